-- The append-only, hash-chained audit trail (docs/audit.md) and the indexes of the inventory.

CREATE TABLE audit_events (
  seq          INTEGER PRIMARY KEY,
  at           INTEGER NOT NULL,
  actor_type   TEXT NOT NULL CHECK (actor_type IN ('token', 'system', 'anonymous')),
  actor_id     TEXT NOT NULL,
  actor_name   TEXT NOT NULL,
  action       TEXT NOT NULL,
  target_type  TEXT NOT NULL,
  target_id    TEXT NOT NULL,
  cluster      TEXT,
  trust_domain TEXT,
  outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
  request_id   TEXT,
  source_ip    TEXT,
  details      TEXT NOT NULL,
  prev_hash    TEXT NOT NULL,
  hash         TEXT NOT NULL UNIQUE
);

CREATE INDEX audit_by_action ON audit_events (action, seq);
CREATE INDEX audit_by_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_by_cluster ON audit_events (cluster, seq);
CREATE INDEX audit_by_trust_domain ON audit_events (trust_domain, seq);
CREATE INDEX audit_by_target ON audit_events (target_id, seq);
CREATE INDEX audit_by_at ON audit_events (at);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- Inventory: newest first, by expiry, by issue time.
CREATE INDEX intermediates_by_created ON intermediates (created_at, serial);
CREATE INDEX intermediates_by_not_after ON intermediates (not_after);
CREATE INDEX intermediates_by_cluster_created ON intermediates (cluster, created_at, serial);
CREATE INDEX intermediates_by_domain_created ON intermediates (trust_domain, created_at, serial);
CREATE INDEX intermediates_by_status_created ON intermediates (status, created_at, serial);
