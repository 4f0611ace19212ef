-- When a cluster first reported istiod signing with each intermediate (its observation's
-- ca-cert.pem). A superseded intermediate can sign nothing still valid once its cluster has
-- signed with a successor for longer than a workload certificate lives: from then on its CRL
-- leaves ca-crl.pem (core/crl-pruning.ts), which keeps the Secret under Kubernetes' 1 MiB.
ALTER TABLE intermediates ADD COLUMN signing_seen_at INTEGER;

-- The live issuers of a trust domain, still read from the index alone, now with what pruning needs.
DROP INDEX intermediates_issuers;
CREATE INDEX intermediates_issuers ON intermediates (trust_domain, not_after, status, serial, cluster, root_serial, custody, key_id, generation, signing_seen_at);
