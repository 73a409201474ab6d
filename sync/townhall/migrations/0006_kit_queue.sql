-- What waits in each kit's outbox, as the kit reported it with its audit requests (counts
-- only, never a case id or a citizen's data). oldest_since is the town hall's time at which the
-- oldest waiting packet was sealed ('' when nothing waits), so the fleet view ages it on.
CREATE TABLE kit_queue (
  kit_id       TEXT PRIMARY KEY REFERENCES kits(id),
  reported_at  TEXT NOT NULL,
  depth        INTEGER NOT NULL CHECK (depth >= 0),
  parked       INTEGER NOT NULL CHECK (parked >= 0 AND parked <= depth),
  oldest_since TEXT NOT NULL DEFAULT ''
) STRICT;
