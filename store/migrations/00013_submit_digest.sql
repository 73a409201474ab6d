-- +goose Up
-- A keyed digest of what `koffer case submit` sent for a case, so a retry with the same id and
-- the same content stays idempotent while the same id with other content is refused. Keyed by a
-- kit secret, so it reveals nothing about the content. Empty for cases captured in the UI.
-- (Numbered after issue 13, so it cannot collide with a 00002 made at the same time elsewhere.)
ALTER TABLE cases ADD COLUMN submit_digest TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE cases DROP COLUMN submit_digest;
