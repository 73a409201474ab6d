-- The back office (German web console), as migrations/0005_backoffice.sql for SQLite.
-- Everything here holds ids, names of staff and times, never a citizen's data: that stays
-- inside the packets.

-- Staff accounts: the passphrase as an argon2id PHC string, and one of two roles.
CREATE TABLE staff (
  name       TEXT PRIMARY KEY,
  role       TEXT NOT NULL CHECK (role IN ('sachbearbeitung', 'administration')),
  hash       TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);

-- The town hall's own audit log: every back-office action and every revocation, hash-chained
-- like the kits' logs; never updated, never deleted. Appends take advisory lock 4711003, so
-- replicas chain one after another.
CREATE TABLE townhall_audit (
  seq       BIGINT PRIMARY KEY,
  at        TIMESTAMPTZ NOT NULL,
  actor     TEXT NOT NULL,
  event     TEXT NOT NULL,
  case_id   TEXT NOT NULL DEFAULT '',
  kit_id    TEXT NOT NULL DEFAULT '',
  detail    TEXT NOT NULL DEFAULT '',
  prev_hash BYTEA NOT NULL,
  hash      BYTEA NOT NULL
);
CREATE FUNCTION townhall_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit is append-only'; END $$;
CREATE TRIGGER townhall_audit_no_change BEFORE UPDATE OR DELETE ON townhall_audit
  FOR EACH ROW EXECUTE FUNCTION townhall_audit_append_only();
CREATE TRIGGER townhall_audit_no_truncate BEFORE TRUNCATE ON townhall_audit
  FOR EACH STATEMENT EXECUTE FUNCTION townhall_audit_append_only();

-- What the back office learnt about a case when it first opened it (no personal data), so the
-- inbox can filter without decrypting every packet again.
CREATE TABLE case_facts (
  case_id    TEXT PRIMARY KEY REFERENCES cases(case_id),
  late       BOOLEAN NOT NULL,
  applied_at TIMESTAMPTZ
);

-- Hand-over to the registration software ("Fachverfahren").
CREATE TABLE handovers (
  case_id TEXT PRIMARY KEY REFERENCES cases(case_id),
  at      TIMESTAMPTZ NOT NULL,
  actor   TEXT NOT NULL,
  target  TEXT NOT NULL
);

-- Fingerprints deleted at the town hall: the packet was replaced by a copy without them.
CREATE TABLE fingerprint_deletions (
  case_id TEXT PRIMARY KEY REFERENCES cases(case_id),
  at      TIMESTAMPTZ NOT NULL,
  actor   TEXT NOT NULL,
  rule    TEXT NOT NULL,
  parts   INTEGER NOT NULL
);

-- What the town hall saw of each kit on its last request (NULL: unknown).
CREATE TABLE kit_contact (
  kit_id         TEXT PRIMARY KEY REFERENCES kits(id),
  last_contact   TIMESTAMPTZ NOT NULL,
  cert_not_after TIMESTAMPTZ,
  version        TEXT NOT NULL
);

-- Revoked kits: refused on every request, by every replica, from the moment of the row. An
-- administrator may decide (allowed_at, allowed_by) that the kit may still deliver packets it
-- sealed before.
CREATE TABLE revocations (
  kit_id     TEXT PRIMARY KEY REFERENCES kits(id),
  at         TIMESTAMPTZ NOT NULL,
  actor      TEXT NOT NULL,
  reason     TEXT NOT NULL,
  allowed_at TIMESTAMPTZ,
  allowed_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX cases_kit ON cases(kit_id);
CREATE INDEX audit_case ON audit(kit_id, case_id);
