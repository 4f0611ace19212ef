-- meshroot's schema on PostgreSQL: the SQLite schema as of its migration 0015, in one step.
-- Times are epoch milliseconds (BIGINT), as in SQLite: what the store writes reads back exactly.
-- Text compares and sorts by bytes (COLLATE "C"), as in SQLite: pages and orders match.
-- JSON is jsonb, key and CRL bytes are bytea. Forward-only: later changes are new files.

CREATE TABLE meta (
  key   TEXT COLLATE "C" PRIMARY KEY,
  value TEXT COLLATE "C" NOT NULL
);

CREATE TABLE trust_domains (
  name         TEXT COLLATE "C" PRIMARY KEY,
  organization TEXT COLLATE "C" NOT NULL,
  -- Its clusters load ca-crl.pem: rotations are staged (SQLite 0015).
  ca_crl       BOOLEAN NOT NULL DEFAULT false,
  created_at   BIGINT NOT NULL
);

CREATE TABLE roots (
  serial             TEXT COLLATE "C" PRIMARY KEY,
  trust_domain       TEXT COLLATE "C" NOT NULL REFERENCES trust_domains (name),
  generation         INTEGER NOT NULL CHECK (generation >= 1),
  status             TEXT COLLATE "C" NOT NULL CHECK (status IN ('prepared', 'active', 'retiring', 'retired', 'revoked')),
  imported           BOOLEAN NOT NULL,
  key_algorithm      TEXT COLLATE "C" NOT NULL,
  key_id             TEXT COLLATE "C" NOT NULL,
  cert_pem           TEXT COLLATE "C" NOT NULL,
  fingerprint_sha256 TEXT COLLATE "C" NOT NULL UNIQUE,
  not_before         BIGINT NOT NULL,
  not_after          BIGINT NOT NULL,
  created_at         BIGINT NOT NULL,
  key_ref            TEXT COLLATE "C" NOT NULL CHECK (key_ref <> ''),
  UNIQUE (trust_domain, generation)
);

CREATE TABLE clusters (
  name              TEXT COLLATE "C" PRIMARY KEY,
  trust_domain      TEXT COLLATE "C" NOT NULL REFERENCES trust_domains (name),
  labels            JSONB NOT NULL DEFAULT '{}',
  key_algorithm     TEXT COLLATE "C" NOT NULL,
  validity_days     INTEGER NOT NULL CHECK (validity_days > 0),
  renew_before_days INTEGER CHECK (renew_before_days IS NULL OR renew_before_days < validity_days),
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL,
  decommissioned_at BIGINT
);
CREATE INDEX clusters_by_trust_domain ON clusters (trust_domain, name);

CREATE TABLE intermediates (
  serial             TEXT COLLATE "C" PRIMARY KEY,
  cluster            TEXT COLLATE "C" NOT NULL REFERENCES clusters (name),
  trust_domain       TEXT COLLATE "C" NOT NULL REFERENCES trust_domains (name),
  root_serial        TEXT COLLATE "C" NOT NULL REFERENCES roots (serial),
  generation         INTEGER NOT NULL CHECK (generation >= 1),
  status             TEXT COLLATE "C" NOT NULL CHECK (status IN ('prepared', 'active', 'superseded', 'revoked')),
  custody            TEXT COLLATE "C" NOT NULL CHECK (custody IN ('escrowed', 'external')),
  key_algorithm      TEXT COLLATE "C" NOT NULL,
  cert_pem           TEXT COLLATE "C" NOT NULL,
  sealed_key         BYTEA,
  fingerprint_sha256 TEXT COLLATE "C" NOT NULL UNIQUE,
  not_before         BIGINT NOT NULL,
  not_after          BIGINT NOT NULL,
  rotate_after       BIGINT NOT NULL,
  supersedes         TEXT COLLATE "C" REFERENCES intermediates (serial),
  revoked_at         BIGINT,
  revocation_reason  TEXT COLLATE "C",
  idempotency_key    TEXT COLLATE "C",
  request_hash       TEXT COLLATE "C",
  created_at         BIGINT NOT NULL,
  subject            TEXT COLLATE "C",
  key_id             TEXT COLLATE "C",
  signing_seen_at    BIGINT,
  UNIQUE (cluster, generation),
  UNIQUE (cluster, idempotency_key),
  CHECK ((custody = 'escrowed') = (sealed_key IS NOT NULL)),
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE UNIQUE INDEX intermediates_one_active ON intermediates (cluster) WHERE status = 'active';
CREATE UNIQUE INDEX intermediates_one_prepared ON intermediates (cluster) WHERE status = 'prepared';
CREATE UNIQUE INDEX intermediates_by_supersedes ON intermediates (supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX intermediates_due ON intermediates (status, rotate_after);
CREATE INDEX intermediates_by_root ON intermediates (root_serial, status);
CREATE INDEX intermediates_by_created ON intermediates (created_at, serial);
CREATE INDEX intermediates_by_not_after ON intermediates (not_after);
CREATE INDEX intermediates_by_cluster_created ON intermediates (cluster, created_at, serial);
CREATE INDEX intermediates_by_domain_created ON intermediates (trust_domain, created_at, serial);
CREATE INDEX intermediates_by_status_created ON intermediates (status, created_at, serial);
CREATE INDEX intermediates_revoked_by_root ON intermediates (root_serial, revoked_at, serial) INCLUDE (revocation_reason)
  WHERE status = 'revoked';
CREATE INDEX intermediates_issuers ON intermediates (trust_domain, not_after)
  INCLUDE (status, serial, cluster, root_serial, custody, key_id, generation, signing_seen_at);

CREATE TABLE api_tokens (
  id               TEXT COLLATE "C" PRIMARY KEY,
  name             TEXT COLLATE "C" NOT NULL,
  role             TEXT COLLATE "C" NOT NULL CHECK (role IN ('admin', 'provisioner', 'auditor')),
  cluster_patterns JSONB NOT NULL DEFAULT '[]',
  trust_domains    JSONB NOT NULL DEFAULT '[]',
  token_hash       TEXT COLLATE "C" NOT NULL UNIQUE,
  created_at       BIGINT NOT NULL,
  expires_at       BIGINT,
  last_used_at     BIGINT,
  revoked_at       BIGINT
);

CREATE TABLE crls (
  issuer_serial TEXT COLLATE "C" NOT NULL,
  issuer_kind   TEXT COLLATE "C" NOT NULL CHECK (issuer_kind IN ('root', 'intermediate')),
  trust_domain  TEXT COLLATE "C" NOT NULL REFERENCES trust_domains (name),
  seq           BIGINT NOT NULL CHECK (seq >= 1),
  crl_number    BIGINT,
  this_update   BIGINT NOT NULL,
  next_update   BIGINT NOT NULL,
  entries       INTEGER NOT NULL,
  der           BYTEA NOT NULL,
  uploaded      BOOLEAN NOT NULL,
  created_at    BIGINT NOT NULL,
  PRIMARY KEY (issuer_serial, seq)
);

-- The audit trail: the canonical event text its hash covers, and the columns the filters read,
-- generated from that text (so they are what the chain protects). `at` is the event's time in
-- epoch ms, written with it (an ISO text to timestamp conversion is not immutable).
-- Appends are serialised by pg_advisory_xact_lock (see src/store/postgres/pool.ts); seq is the
-- primary key as a backstop, so two writers can never fork the chain.
CREATE TABLE audit_events (
  seq          BIGINT PRIMARY KEY,
  event        TEXT COLLATE "C" NOT NULL,
  hash         TEXT COLLATE "C" NOT NULL UNIQUE,
  at           BIGINT NOT NULL,
  actor_id     TEXT COLLATE "C" GENERATED ALWAYS AS ((event::json) #>> '{actor,id}') STORED,
  action       TEXT COLLATE "C" GENERATED ALWAYS AS ((event::json) ->> 'action') STORED,
  target_id    TEXT COLLATE "C" GENERATED ALWAYS AS ((event::json) #>> '{target,id}') STORED,
  cluster      TEXT COLLATE "C" GENERATED ALWAYS AS ((event::json) ->> 'cluster') STORED,
  trust_domain TEXT COLLATE "C" GENERATED ALWAYS AS ((event::json) ->> 'trustDomain') STORED,
  outcome      TEXT COLLATE "C" GENERATED ALWAYS AS ((event::json) ->> 'outcome') STORED
);
CREATE INDEX audit_by_action ON audit_events (action, seq);
CREATE INDEX audit_by_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_by_cluster ON audit_events (cluster, seq);
CREATE INDEX audit_by_trust_domain ON audit_events (trust_domain, seq);
CREATE INDEX audit_by_target ON audit_events (target_id, seq);
CREATE INDEX audit_by_at ON audit_events (at);

CREATE FUNCTION meshroot_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION meshroot_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION meshroot_append_only();

CREATE TABLE audit_checkpoints (
  id   BIGSERIAL PRIMARY KEY,
  seq  BIGINT NOT NULL,
  hash TEXT COLLATE "C" NOT NULL,
  at   BIGINT NOT NULL,
  mac  TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_checkpoints_by_seq ON audit_checkpoints (seq, id);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION meshroot_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION meshroot_append_only();

CREATE TABLE observations (
  id            BIGSERIAL PRIMARY KEY,
  cluster       TEXT COLLATE "C" NOT NULL REFERENCES clusters (name),
  observed_at   BIGINT NOT NULL,
  root_cert_pem TEXT COLLATE "C" NOT NULL,
  ca_cert_pem   TEXT COLLATE "C",
  crl_pem       TEXT COLLATE "C",
  istio_version TEXT COLLATE "C",
  multi_root    BOOLEAN,
  ambient       BOOLEAN,
  source        TEXT COLLATE "C" NOT NULL CHECK (source IN ('json', 'configmap')),
  facts         JSONB
);
CREATE INDEX observations_by_cluster ON observations (cluster, id);

CREATE TABLE root_rotations (
  id                 BIGSERIAL PRIMARY KEY,
  trust_domain       TEXT COLLATE "C" NOT NULL REFERENCES trust_domains (name),
  old_root           TEXT COLLATE "C" NOT NULL REFERENCES roots (serial),
  new_root           TEXT COLLATE "C" NOT NULL REFERENCES roots (serial),
  phase              TEXT COLLATE "C" NOT NULL CHECK (phase IN ('prepared', 'trust-both', 'sign-new', 'drop-old', 'done', 'rolled-back')),
  -- [{ "phase": …, "at": epoch ms }]: when each phase began, in order.
  history            JSONB NOT NULL,
  workload_cert_ttl  BIGINT NOT NULL CHECK (workload_cert_ttl > 0),
  revoke_old_root    BOOLEAN NOT NULL,
  last_switch_at     BIGINT,
  started_at         BIGINT NOT NULL,
  finished_at        BIGINT
);
CREATE UNIQUE INDEX root_rotations_one_open ON root_rotations (trust_domain) WHERE phase NOT IN ('done', 'rolled-back');
