-- A kit's visit-pack recipient (age X25519), registered by the kit itself over mutual TLS once
-- its data key exists; visit packs are sealed to it. visit_date lets packs expire after the
-- day they are for, even when the kit never fetches them. (SQLite: migrations/0004_visit_keys.sql.)
ALTER TABLE kits ADD COLUMN visit_recipient TEXT;
ALTER TABLE visits ADD COLUMN visit_date TEXT NOT NULL DEFAULT '';
CREATE INDEX visits_date ON visits(visit_date);
