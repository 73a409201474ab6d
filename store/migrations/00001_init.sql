-- +goose Up
-- Cases: one row per application. Nothing personal lives here in clear: the service, the
-- state and timestamps only. Draft step data is in steps.data, encrypted with the data key.
CREATE TABLE cases (
    id           TEXT PRIMARY KEY,             -- UUIDv7 made on the kit
    service      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('draft','sealed','uploading','delivered','purged','cancelled')),
    late         INTEGER NOT NULL DEFAULT 0,   -- registration deadline missed (flag, not refusal)
    created_at   INTEGER NOT NULL,             -- unix milliseconds
    updated_at   INTEGER NOT NULL,
    sealed_at    INTEGER,
    delivered_at INTEGER
) STRICT;
CREATE INDEX cases_state ON cases(state);

CREATE TABLE steps (
    case_id    TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    data       BLOB NOT NULL,                  -- nonce || AEAD(data key, step JSON)
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (case_id, name)
) STRICT;

-- Attachments: the bytes are a file blobs/<sha256>, written and fsynced before this row.
CREATE TABLE attachments (
    id         INTEGER PRIMARY KEY,
    case_id    TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('scan','fingerprint','signature','photo')),
    finger     TEXT NOT NULL DEFAULT '',
    sha256     TEXT NOT NULL,                  -- of the stored (encrypted) file
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX attachments_case ON attachments(case_id);
CREATE INDEX attachments_sha ON attachments(sha256);

CREATE TABLE outbox (
    case_id         TEXT PRIMARY KEY REFERENCES cases(id),
    packet_path     TEXT NOT NULL,             -- relative to the data directory
    size            INTEGER NOT NULL,
    upload_url      TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    next_attempt_at INTEGER NOT NULL,
    parked_reason   TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    done_at         INTEGER
) STRICT;
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE done_at IS NULL AND parked_reason = '';

CREATE TABLE receipts (
    case_id     TEXT PRIMARY KEY REFERENCES cases(id),
    number      TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    raw         BLOB NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;

CREATE TABLE visit_packs (
    id          TEXT PRIMARY KEY,
    visit_date  TEXT NOT NULL,                 -- YYYY-MM-DD, not personal
    data        BLOB NOT NULL,                 -- nonce || AEAD(data key, pack)
    received_at INTEGER NOT NULL
) STRICT;

CREATE TABLE caseworkers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,           -- the login name of staff, not a citizen
    wrapped    BLOB NOT NULL,                  -- the data key wrapped by argon2id(passphrase)
    created_at INTEGER NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The audit log: append-only, each entry holds the hash of the one before.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    event     TEXT NOT NULL,
    case_id   TEXT NOT NULL DEFAULT '',
    actor     TEXT NOT NULL DEFAULT '',
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
) STRICT;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

CREATE TABLE kit (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE kit;
DROP TABLE audit;
DROP TABLE caseworkers;
DROP TABLE visit_packs;
DROP TABLE receipts;
DROP TABLE outbox;
DROP TABLE attachments;
DROP TABLE steps;
DROP TABLE cases;
