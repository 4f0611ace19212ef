-- Signed checkpoints of the audit chain's head (docs/audit.md, "Checkpoints"): the seq and hash of
-- the newest event at a time, with an HMAC-SHA256 under a key derived from the master key, which
-- is not in this database. `audit verify` checks the chain against the newest one, so cutting or
-- re-hashing the end of the trail shows. Append-only, like the trail.
CREATE TABLE audit_checkpoints (
  id   INTEGER PRIMARY KEY,
  seq  INTEGER NOT NULL,
  hash TEXT NOT NULL,
  at   INTEGER NOT NULL,
  mac  TEXT NOT NULL
);

CREATE INDEX audit_checkpoints_by_seq ON audit_checkpoints (seq, id);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
  SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
  SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
