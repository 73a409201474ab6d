-- Kits enrolled at this town hall: the Ed25519 key verifies their packets and seals their
-- visit packs (as an age ssh-ed25519 recipient).
CREATE TABLE kits (
  id          TEXT PRIMARY KEY,
  public_key  BLOB NOT NULL,
  url         TEXT NOT NULL,
  enrolled_at TEXT NOT NULL
) STRICT;

-- Received cases. seq numbers the town hall case numbers; receipt is the signed answer, sent
-- again byte for byte when a kit commits the same case twice.
CREATE TABLE cases (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  case_id       TEXT NOT NULL UNIQUE,
  kit_id        TEXT NOT NULL REFERENCES kits(id),
  service       TEXT NOT NULL,
  number        TEXT NOT NULL UNIQUE,
  received_at   TEXT NOT NULL,
  packet_sha256 TEXT NOT NULL,
  size          INTEGER NOT NULL,
  receipt       BLOB NOT NULL
) STRICT;

-- Upload attempts the town hall has seen created (tus upload id -> kit), for the back office
-- and for cleaning up abandoned uploads.
CREATE TABLE uploads (
  upload_id  TEXT PRIMARY KEY,
  kit_id     TEXT NOT NULL,
  case_id    TEXT NOT NULL,
  size       INTEGER NOT NULL,
  created_at TEXT NOT NULL
) STRICT;

-- Visit packs sealed to one kit.
CREATE TABLE visits (
  id         TEXT PRIMARY KEY,
  kit_id     TEXT NOT NULL REFERENCES kits(id),
  created_at TEXT NOT NULL,
  pack       BLOB NOT NULL
) STRICT;
CREATE INDEX visits_kit ON visits(kit_id, created_at);
