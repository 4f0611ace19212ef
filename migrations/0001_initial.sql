-- meshroot schema, version 1: trust domains, roots, clusters, intermediates, API tokens.
-- Times are Unix epoch milliseconds (INTEGER). Nothing is ever deleted.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE trust_domains (
  name         TEXT PRIMARY KEY,
  organization TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);

CREATE TABLE roots (
  serial             TEXT PRIMARY KEY,
  trust_domain       TEXT NOT NULL REFERENCES trust_domains (name),
  generation         INTEGER NOT NULL CHECK (generation >= 1),
  status             TEXT NOT NULL CHECK (status IN ('active', 'retiring', 'retired')),
  imported           INTEGER NOT NULL CHECK (imported IN (0, 1)),
  key_algorithm      TEXT NOT NULL,
  key_id             TEXT NOT NULL,
  cert_pem           TEXT NOT NULL,
  sealed_key         BLOB NOT NULL,
  fingerprint_sha256 TEXT NOT NULL UNIQUE,
  not_before         INTEGER NOT NULL,
  not_after          INTEGER NOT NULL,
  created_at         INTEGER NOT NULL,
  UNIQUE (trust_domain, generation)
);

CREATE TABLE clusters (
  name              TEXT PRIMARY KEY,
  trust_domain      TEXT NOT NULL REFERENCES trust_domains (name),
  labels            TEXT NOT NULL DEFAULT '{}',
  key_algorithm     TEXT NOT NULL,
  validity_days     INTEGER NOT NULL CHECK (validity_days > 0),
  renew_before_days INTEGER CHECK (renew_before_days IS NULL OR renew_before_days < validity_days),
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  decommissioned_at INTEGER
);

CREATE INDEX clusters_by_trust_domain ON clusters (trust_domain, name);

CREATE TABLE intermediates (
  serial             TEXT PRIMARY KEY,
  cluster            TEXT NOT NULL REFERENCES clusters (name),
  trust_domain       TEXT NOT NULL REFERENCES trust_domains (name),
  root_serial        TEXT NOT NULL REFERENCES roots (serial),
  generation         INTEGER NOT NULL CHECK (generation >= 1),
  status             TEXT NOT NULL CHECK (status IN ('active', 'superseded', 'revoked')),
  custody            TEXT NOT NULL CHECK (custody IN ('escrowed', 'external')),
  key_algorithm      TEXT NOT NULL,
  cert_pem           TEXT NOT NULL,
  sealed_key         BLOB,
  fingerprint_sha256 TEXT NOT NULL UNIQUE,
  not_before         INTEGER NOT NULL,
  not_after          INTEGER NOT NULL,
  rotate_after       INTEGER NOT NULL,
  supersedes         TEXT REFERENCES intermediates (serial),
  revoked_at         INTEGER,
  revocation_reason  TEXT,
  idempotency_key    TEXT,
  request_hash       TEXT,
  created_at         INTEGER NOT NULL,
  UNIQUE (cluster, generation),
  UNIQUE (cluster, idempotency_key),
  CHECK ((custody = 'escrowed') = (sealed_key IS NOT NULL)),
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);

-- Exactly one active intermediate per cluster, by constraint.
CREATE UNIQUE INDEX intermediates_one_active ON intermediates (cluster) WHERE status = 'active';
CREATE UNIQUE INDEX intermediates_by_supersedes ON intermediates (supersedes) WHERE supersedes IS NOT NULL;

CREATE TABLE api_tokens (
  id               TEXT PRIMARY KEY,
  name             TEXT NOT NULL,
  role             TEXT NOT NULL CHECK (role IN ('admin', 'provisioner', 'auditor')),
  cluster_patterns TEXT NOT NULL DEFAULT '[]',
  token_hash       TEXT NOT NULL UNIQUE,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER,
  last_used_at     INTEGER,
  revoked_at       INTEGER
);
