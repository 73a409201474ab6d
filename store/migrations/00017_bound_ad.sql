-- +goose Up
-- Issue 17: the associated data of steps and attachments names the row itself, so two
-- attachments of one case cannot be swapped and a step cannot be rolled back by copying an
-- older ciphertext. Rows written before this migration keep version 0 / ad_version 0 and are
-- read with the old associated data (docs/security.md); every write from now on is bound.
ALTER TABLE steps ADD COLUMN version INTEGER NOT NULL DEFAULT 0;      -- 1, 2, ... per save
ALTER TABLE attachments ADD COLUMN ad_version INTEGER NOT NULL DEFAULT 0; -- 2: id bound in the AD

-- +goose Down
ALTER TABLE attachments DROP COLUMN ad_version;
ALTER TABLE steps DROP COLUMN version;
