-- The id tusd gave the upload (tusd's S3 store appends its multipart id to ours), so the
-- janitor can terminate a stale upload; empty until the creation answer went out.
ALTER TABLE uploads ADD COLUMN tus_id TEXT NOT NULL DEFAULT '';
