-- The software version a kit last reported with its audit log (koffer version), for the fleet
-- view; empty until the kit's first audit batch. (SQLite: migrations/0003_kit_version.sql.)
ALTER TABLE kits ADD COLUMN version TEXT NOT NULL DEFAULT '';
