-- Each audit event is stored as the exact canonical JSON that its hash covers (docs/audit.md),
-- and every other column is generated from that text: what a query filters on can never
-- differ from what the chain protects, and verification reads one text column per event
-- instead of sixteen. Existing events are rewritten by meshroot_canonical_event(), the
-- application's own canonical form (registered by the migration runner), so their hashes stay
-- valid. `at` comes back as epoch milliseconds (exact: julianday keeps millisecond precision).
CREATE TABLE audit_events_text (
  seq          INTEGER PRIMARY KEY,
  event        TEXT NOT NULL,
  hash         TEXT NOT NULL UNIQUE,
  at           INTEGER GENERATED ALWAYS AS (CAST(round((julianday(json_extract(event, '$.at')) - 2440587.5) * 86400000.0) AS INTEGER)) VIRTUAL,
  actor_type   TEXT GENERATED ALWAYS AS (json_extract(event, '$.actor.type')) VIRTUAL,
  actor_id     TEXT GENERATED ALWAYS AS (json_extract(event, '$.actor.id')) VIRTUAL,
  actor_name   TEXT GENERATED ALWAYS AS (json_extract(event, '$.actor.name')) VIRTUAL,
  action       TEXT GENERATED ALWAYS AS (json_extract(event, '$.action')) VIRTUAL,
  target_type  TEXT GENERATED ALWAYS AS (json_extract(event, '$.target.type')) VIRTUAL,
  target_id    TEXT GENERATED ALWAYS AS (json_extract(event, '$.target.id')) VIRTUAL,
  cluster      TEXT GENERATED ALWAYS AS (json_extract(event, '$.cluster')) VIRTUAL,
  trust_domain TEXT GENERATED ALWAYS AS (json_extract(event, '$.trustDomain')) VIRTUAL,
  outcome      TEXT GENERATED ALWAYS AS (json_extract(event, '$.outcome')) VIRTUAL,
  request_id   TEXT GENERATED ALWAYS AS (json_extract(event, '$.requestId')) VIRTUAL,
  source_ip    TEXT GENERATED ALWAYS AS (json_extract(event, '$.sourceIp')) VIRTUAL,
  details      TEXT GENERATED ALWAYS AS (json_extract(event, '$.details')) VIRTUAL,
  prev_hash    TEXT GENERATED ALWAYS AS (json_extract(event, '$.prevHash')) VIRTUAL
);

INSERT INTO audit_events_text (seq, event, hash)
  SELECT seq,
         meshroot_canonical_event(seq, at, actor_type, actor_id, actor_name, action, target_type, target_id,
                                  cluster, trust_domain, outcome, request_id, source_ip, details, prev_hash),
         hash
  FROM audit_events ORDER BY seq;

DROP TABLE audit_events;
ALTER TABLE audit_events_text RENAME TO audit_events;

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
