-- The town hall's metadata on PostgreSQL, shared by every replica. Same tables as the
-- embedded SQLite schema (../migrations), plus the case counter and the tus locks.
CREATE TABLE kits (
  id          TEXT PRIMARY KEY,
  public_key  BYTEA NOT NULL,
  url         TEXT NOT NULL,
  enrolled_at TIMESTAMPTZ NOT NULL
);

-- One row: the last case number given. Commits take its row lock first, so numbering is
-- serial across replicas and a rolled-back commit leaves no gap.
CREATE TABLE case_counter (
  id   BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
  last BIGINT NOT NULL
);
INSERT INTO case_counter (id, last) VALUES (true, 0);

CREATE TABLE cases (
  seq           BIGINT PRIMARY KEY,
  case_id       TEXT NOT NULL UNIQUE,
  kit_id        TEXT NOT NULL REFERENCES kits(id),
  service       TEXT NOT NULL,
  number        TEXT NOT NULL UNIQUE,
  received_at   TIMESTAMPTZ NOT NULL,
  packet_sha256 TEXT NOT NULL,
  size          BIGINT NOT NULL,
  receipt       BYTEA NOT NULL
);

CREATE TABLE uploads (
  upload_id  TEXT PRIMARY KEY,
  kit_id     TEXT NOT NULL,
  case_id    TEXT NOT NULL,
  size       BIGINT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE visits (
  id         TEXT PRIMARY KEY,
  kit_id     TEXT NOT NULL REFERENCES kits(id),
  created_at TIMESTAMPTZ NOT NULL,
  pack       BYTEA NOT NULL
);
CREATE INDEX visits_kit ON visits(kit_id, created_at);

CREATE TABLE audit (
  kit_id    TEXT NOT NULL REFERENCES kits(id),
  seq       BIGINT NOT NULL,
  at        TIMESTAMPTZ NOT NULL,
  event     TEXT NOT NULL,
  case_id   TEXT NOT NULL,
  actor     TEXT NOT NULL,
  prev_hash BYTEA NOT NULL,
  hash      BYTEA NOT NULL,
  PRIMARY KEY (kit_id, seq)
);

-- tus upload locks with a lease: the holder renews expires_at while it serves the upload; a
-- replica that dies stops renewing, and the lock is free once the lease has run out.
-- release_requested asks the holder to end its request (another request for the upload came).
CREATE TABLE tus_locks (
  upload_id         TEXT PRIMARY KEY,
  holder            TEXT NOT NULL,
  expires_at        TIMESTAMPTZ NOT NULL,
  release_requested BOOLEAN NOT NULL DEFAULT false
);
