-- The kits' audit logs as they arrive: hash-chained entries, ids only, never personal data.
CREATE TABLE audit (
  kit_id    TEXT NOT NULL REFERENCES kits(id),
  seq       INTEGER NOT NULL,
  at        TEXT NOT NULL,
  event     TEXT NOT NULL,
  case_id   TEXT NOT NULL,
  actor     TEXT NOT NULL,
  prev_hash BLOB NOT NULL,
  hash      BLOB NOT NULL,
  PRIMARY KEY (kit_id, seq)
) STRICT;
