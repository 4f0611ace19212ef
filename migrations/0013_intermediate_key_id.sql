-- Each intermediate's subject key identifier (hex), written at issuance: the fleet view and the
-- root rotation match CRLs to their issuers by it, for thousands of intermediates per request,
-- without parsing each certificate. Rows issued before this migration have NULL; the core reads
-- their certificate instead.
ALTER TABLE intermediates ADD COLUMN key_id TEXT;

-- The live issuers of a trust domain, read from the index alone (no certificate or key bytes).
CREATE INDEX intermediates_issuers ON intermediates (trust_domain, not_after, status, serial, cluster, root_serial, custody, key_id);
