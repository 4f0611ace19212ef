-- One group commit's issuances in one call (src/store/postgres/intermediate-store.ts): the caller
-- holds the audit lock and has already checked every item against the rows it read under that
-- lock (generation, idempotency key, a waiting prepared one) and chained the audit events. The
-- statements run in this order so that the one-active index sees each supersession before the
-- insert that replaces it; one call instead of four round trips per issuance while the lock is held.
CREATE FUNCTION meshroot_issue_batch(
  supersede_clusters TEXT[],
  serials TEXT[], clusters TEXT[], trust_domains TEXT[], root_serials TEXT[], generations INTEGER[],
  statuses TEXT[], custodies TEXT[], key_algorithms TEXT[], cert_pems TEXT[], sealed_keys BYTEA[],
  fingerprints TEXT[], not_befores BIGINT[], not_afters BIGINT[], rotate_afters BIGINT[], supersedes_serials TEXT[],
  revoked_ats BIGINT[], revocation_reasons TEXT[], idempotency_keys TEXT[], request_hashes TEXT[], created_ats BIGINT[], subjects TEXT[], key_ids TEXT[],
  audit_seqs BIGINT[], audit_texts TEXT[], audit_hashes TEXT[], audit_ats BIGINT[], notify_channel TEXT, notify_payloads TEXT[]
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  -- A join on the clusters (not cluster = ANY): the one-active index finds each, whatever the statistics say.
  UPDATE intermediates i SET status = 'superseded' FROM unnest(supersede_clusters) AS s(cluster)
  WHERE i.cluster = s.cluster AND i.status = 'active';
  INSERT INTO intermediates (serial, cluster, trust_domain, root_serial, generation, status, custody, key_algorithm, cert_pem, sealed_key,
    fingerprint_sha256, not_before, not_after, rotate_after, supersedes, revoked_at, revocation_reason, idempotency_key, request_hash, created_at, subject, key_id)
  SELECT * FROM unnest(serials, clusters, trust_domains, root_serials, generations, statuses, custodies, key_algorithms, cert_pems, sealed_keys,
    fingerprints, not_befores, not_afters, rotate_afters, supersedes_serials, revoked_ats, revocation_reasons, idempotency_keys, request_hashes, created_ats, subjects, key_ids);
  INSERT INTO audit_events (seq, event, hash, at) SELECT * FROM unnest(audit_seqs, audit_texts, audit_hashes, audit_ats);
  PERFORM pg_notify(notify_channel, p) FROM (SELECT DISTINCT p FROM unnest(notify_payloads) AS p) d;
END;
$$;
