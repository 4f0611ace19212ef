-- Root rotation (issue 11). A new root is `prepared` (stored, in no bundle yet) before it is
-- trusted, and each cluster's next intermediate under it is `prepared` (issued, in no Secret
-- yet) until the cluster switches to it. An old root ends `retired`, or `revoked` when asked.
-- SQLite cannot change a CHECK constraint in place: roots and intermediates are rebuilt with the
-- wider status sets (same columns, same rows, same indexes and triggers). Foreign keys stay on:
-- the new tables reference each other under their temporary names, which RENAME rewrites.

CREATE TABLE roots_new (
  serial             TEXT PRIMARY KEY,
  trust_domain       TEXT NOT NULL REFERENCES trust_domains (name),
  generation         INTEGER NOT NULL CHECK (generation >= 1),
  status             TEXT NOT NULL CHECK (status IN ('prepared', 'active', 'retiring', 'retired', 'revoked')),
  imported           INTEGER NOT NULL CHECK (imported IN (0, 1)),
  key_algorithm      TEXT NOT NULL,
  key_id             TEXT NOT NULL,
  cert_pem           TEXT NOT NULL,
  fingerprint_sha256 TEXT NOT NULL UNIQUE,
  not_before         INTEGER NOT NULL,
  not_after          INTEGER NOT NULL,
  created_at         INTEGER NOT NULL,
  key_ref            TEXT NOT NULL CHECK (key_ref <> ''),
  UNIQUE (trust_domain, generation)
);
INSERT INTO roots_new (serial, trust_domain, generation, status, imported, key_algorithm, key_id, cert_pem, fingerprint_sha256, not_before, not_after, created_at, key_ref)
  SELECT serial, trust_domain, generation, status, imported, key_algorithm, key_id, cert_pem, fingerprint_sha256, not_before, not_after, created_at, key_ref FROM roots;

CREATE TABLE intermediates_new (
  serial             TEXT PRIMARY KEY,
  cluster            TEXT NOT NULL REFERENCES clusters (name),
  trust_domain       TEXT NOT NULL REFERENCES trust_domains (name),
  root_serial        TEXT NOT NULL REFERENCES roots_new (serial),
  generation         INTEGER NOT NULL CHECK (generation >= 1),
  status             TEXT NOT NULL CHECK (status IN ('prepared', 'active', 'superseded', 'revoked')),
  custody            TEXT NOT NULL CHECK (custody IN ('escrowed', 'external')),
  key_algorithm      TEXT NOT NULL,
  cert_pem           TEXT NOT NULL,
  sealed_key         BLOB,
  fingerprint_sha256 TEXT NOT NULL UNIQUE,
  not_before         INTEGER NOT NULL,
  not_after          INTEGER NOT NULL,
  rotate_after       INTEGER NOT NULL,
  supersedes         TEXT REFERENCES intermediates_new (serial),
  revoked_at         INTEGER,
  revocation_reason  TEXT,
  idempotency_key    TEXT,
  request_hash       TEXT,
  created_at         INTEGER NOT NULL,
  subject            TEXT,
  UNIQUE (cluster, generation),
  UNIQUE (cluster, idempotency_key),
  CHECK ((custody = 'escrowed') = (sealed_key IS NOT NULL)),
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
INSERT INTO intermediates_new (serial, cluster, trust_domain, root_serial, generation, status, custody, key_algorithm, cert_pem, sealed_key,
    fingerprint_sha256, not_before, not_after, rotate_after, supersedes, revoked_at, revocation_reason, idempotency_key, request_hash, created_at, subject)
  SELECT serial, cluster, trust_domain, root_serial, generation, status, custody, key_algorithm, cert_pem, sealed_key,
    fingerprint_sha256, not_before, not_after, rotate_after, supersedes, revoked_at, revocation_reason, idempotency_key, request_hash, created_at, subject
  FROM intermediates;

DROP TABLE intermediates;
DROP TABLE roots;
ALTER TABLE roots_new RENAME TO roots;
ALTER TABLE intermediates_new RENAME TO intermediates;

CREATE UNIQUE INDEX intermediates_one_active ON intermediates (cluster) WHERE status = 'active';
CREATE UNIQUE INDEX intermediates_one_prepared ON intermediates (cluster) WHERE status = 'prepared';
CREATE UNIQUE INDEX intermediates_by_supersedes ON intermediates (supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX intermediates_due ON intermediates (status, rotate_after);
CREATE INDEX intermediates_by_root ON intermediates (root_serial, status);
CREATE INDEX intermediates_live ON intermediates (trust_domain, status, not_after);
CREATE INDEX intermediates_by_created ON intermediates (created_at, serial);
CREATE INDEX intermediates_by_not_after ON intermediates (not_after);
CREATE INDEX intermediates_by_cluster_created ON intermediates (cluster, created_at, serial);
CREATE INDEX intermediates_by_domain_created ON intermediates (trust_domain, created_at, serial);
CREATE INDEX intermediates_by_status_created ON intermediates (status, created_at, serial);
CREATE INDEX intermediates_revoked_by_root ON intermediates (root_serial, revoked_at, serial, revocation_reason)
  WHERE status = 'revoked';

-- One root rotation at a time per trust domain; finished ones stay as history.
CREATE TABLE root_rotations (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,
  trust_domain       TEXT NOT NULL REFERENCES trust_domains (name),
  old_root           TEXT NOT NULL REFERENCES roots (serial),
  new_root           TEXT NOT NULL REFERENCES roots (serial),
  phase              TEXT NOT NULL CHECK (phase IN ('prepared', 'trust-both', 'sign-new', 'drop-old', 'done', 'rolled-back')),
  -- JSON: [{ "phase": …, "at": epoch ms }] — when each phase began, in order.
  history            TEXT NOT NULL,
  workload_cert_ttl  INTEGER NOT NULL CHECK (workload_cert_ttl > 0),
  revoke_old_root    INTEGER NOT NULL CHECK (revoke_old_root IN (0, 1)),
  last_switch_at     INTEGER,
  started_at         INTEGER NOT NULL,
  finished_at        INTEGER
);
CREATE UNIQUE INDEX root_rotations_one_open ON root_rotations (trust_domain) WHERE phase NOT IN ('done', 'rolled-back');
