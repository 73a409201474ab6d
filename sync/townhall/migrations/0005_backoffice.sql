-- The back office (German web console). Everything here holds ids, names of staff and times,
-- never a citizen's data: that stays inside the packets.

-- Staff accounts: the passphrase as an argon2id PHC string, and one of two roles.
CREATE TABLE staff (
  name       TEXT PRIMARY KEY,
  role       TEXT NOT NULL CHECK (role IN ('sachbearbeitung', 'administration')),
  hash       TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;

-- The town hall's own audit log: every back-office action and every revocation, hash-chained
-- like the kits' logs; never updated, never deleted.
CREATE TABLE townhall_audit (
  seq       INTEGER PRIMARY KEY,
  at        TEXT NOT NULL,
  actor     TEXT NOT NULL,
  event     TEXT NOT NULL,
  case_id   TEXT NOT NULL DEFAULT '',
  kit_id    TEXT NOT NULL DEFAULT '',
  detail    TEXT NOT NULL DEFAULT '',
  prev_hash BLOB NOT NULL,
  hash      BLOB NOT NULL
) STRICT;
CREATE TRIGGER townhall_audit_no_update BEFORE UPDATE ON townhall_audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER townhall_audit_no_delete BEFORE DELETE ON townhall_audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

-- What the back office learnt about a case when it first opened it (no personal data), so the
-- inbox can filter without decrypting every packet again.
CREATE TABLE case_facts (
  case_id    TEXT PRIMARY KEY REFERENCES cases(case_id),
  late       INTEGER NOT NULL,
  applied_at TEXT NOT NULL
) STRICT;

-- Hand-over to the registration software ("Fachverfahren").
CREATE TABLE handovers (
  case_id   TEXT PRIMARY KEY REFERENCES cases(case_id),
  at        TEXT NOT NULL,
  actor     TEXT NOT NULL,
  target    TEXT NOT NULL
) STRICT;

-- Fingerprints deleted at the town hall: the packet was replaced by a copy without them.
CREATE TABLE fingerprint_deletions (
  case_id TEXT PRIMARY KEY REFERENCES cases(case_id),
  at      TEXT NOT NULL,
  actor   TEXT NOT NULL,
  rule    TEXT NOT NULL,
  parts   INTEGER NOT NULL
) STRICT;

-- What the town hall saw of each kit on its last request.
CREATE TABLE kit_contact (
  kit_id         TEXT PRIMARY KEY REFERENCES kits(id),
  last_contact   TEXT NOT NULL,
  cert_not_after TEXT NOT NULL,
  version        TEXT NOT NULL
) STRICT;

-- Revoked kits: refused on every request from the moment of the row. An administrator may
-- decide (allowed_at, allowed_by) that the kit may still deliver packets it sealed before.
CREATE TABLE revocations (
  kit_id     TEXT PRIMARY KEY REFERENCES kits(id),
  at         TEXT NOT NULL,
  actor      TEXT NOT NULL,
  reason     TEXT NOT NULL,
  allowed_at TEXT NOT NULL DEFAULT '',
  allowed_by TEXT NOT NULL DEFAULT ''
) STRICT;
