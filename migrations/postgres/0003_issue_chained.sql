-- A group commit's issuances in one statement, the audit lock held only inside it
-- (src/store/postgres/intermediate-store.ts). The caller sends each item's record and its audit
-- event's canonical text in three parts around the two values that depend on the chain head
-- (prevHash, seq): under the lock this function reads the head, checks each item against the rows
-- as they are (an earlier record with its idempotency key, the cluster's newest generation, a
-- prepared one already waiting), supersedes, inserts, and chains, hashes (SHA-256 of the UTF-8
-- text, as the process does) and appends its event. One row per item says what became of it.
-- No round trip of the client's happens while the lock is held, so replicas waiting for it wait
-- only for the database, never for another process's event loop.
CREATE FUNCTION meshroot_issue_chained(
  lock_key BIGINT, genesis_hash TEXT,
  serials TEXT[], clusters TEXT[], trust_domains TEXT[], root_serials TEXT[], generations INTEGER[],
  statuses TEXT[], custodies TEXT[], key_algorithms TEXT[], cert_pems TEXT[], sealed_keys BYTEA[],
  fingerprints TEXT[], not_befores BIGINT[], not_afters BIGINT[], rotate_afters BIGINT[], supersedes_serials TEXT[],
  revoked_ats BIGINT[], revocation_reasons TEXT[], idempotency_keys TEXT[], request_hashes TEXT[], created_ats BIGINT[], subjects TEXT[], key_ids TEXT[],
  text_heads TEXT[], text_mids TEXT[], text_tails TEXT[], audit_ats BIGINT[], notify_channel TEXT, notify_payloads TEXT[]
) RETURNS TABLE (outcome TEXT, detail TEXT) LANGUAGE plpgsql AS $$
DECLARE
  head_seq BIGINT;
  head_hash TEXT;
  g INTEGER;
  earlier TEXT;
  event_text TEXT;
BEGIN
  PERFORM pg_advisory_xact_lock(lock_key);
  SELECT a.seq, a.hash INTO head_seq, head_hash FROM audit_events a ORDER BY a.seq DESC LIMIT 1;
  IF NOT FOUND THEN
    head_seq := 0;
    head_hash := genesis_hash;
  END IF;
  FOR i IN 1 .. coalesce(array_length(serials, 1), 0) LOOP
    IF idempotency_keys[i] IS NOT NULL THEN
      SELECT m.serial INTO earlier FROM intermediates m WHERE m.cluster = clusters[i] AND m.idempotency_key = idempotency_keys[i];
      IF FOUND THEN
        outcome := 'replay'; detail := earlier; RETURN NEXT; CONTINUE;
      END IF;
    END IF;
    SELECT coalesce(max(m.generation), 0) INTO g FROM intermediates m WHERE m.cluster = clusters[i];
    IF g <> generations[i] - 1 THEN
      outcome := 'generation'; detail := g::text; RETURN NEXT; CONTINUE;
    END IF;
    IF statuses[i] = 'prepared' AND EXISTS (SELECT 1 FROM intermediates m WHERE m.cluster = clusters[i] AND m.status = 'prepared') THEN
      outcome := 'prepared'; detail := NULL; RETURN NEXT; CONTINUE;
    END IF;
    -- The supersession first, so that the one-active index sees it before the insert.
    IF statuses[i] = 'active' THEN
      UPDATE intermediates m SET status = 'superseded' WHERE m.cluster = clusters[i] AND m.status = 'active';
    END IF;
    INSERT INTO intermediates (serial, cluster, trust_domain, root_serial, generation, status, custody, key_algorithm, cert_pem, sealed_key,
      fingerprint_sha256, not_before, not_after, rotate_after, supersedes, revoked_at, revocation_reason, idempotency_key, request_hash, created_at, subject, key_id)
    VALUES (serials[i], clusters[i], trust_domains[i], root_serials[i], generations[i], statuses[i], custodies[i], key_algorithms[i], cert_pems[i], sealed_keys[i],
      fingerprints[i], not_befores[i], not_afters[i], rotate_afters[i], supersedes_serials[i], revoked_ats[i], revocation_reasons[i], idempotency_keys[i],
      request_hashes[i], created_ats[i], subjects[i], key_ids[i]);
    head_seq := head_seq + 1;
    event_text := text_heads[i] || '"' || head_hash || '"' || text_mids[i] || head_seq::text || text_tails[i];
    head_hash := encode(sha256(convert_to(event_text, 'UTF8')), 'hex');
    INSERT INTO audit_events (seq, event, hash, at) VALUES (head_seq, event_text, head_hash, audit_ats[i]);
    PERFORM pg_notify(notify_channel, notify_payloads[i]);
    outcome := 'created'; detail := head_seq::text; RETURN NEXT;
  END LOOP;
END;
$$;

-- Its predecessor (0002), which needed the lock held across the client's round trips. A replica
-- still running the code that calls it falls back to one savepoint per issuance until it is upgraded.
DROP FUNCTION meshroot_issue_batch(TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], INTEGER[], TEXT[], TEXT[], TEXT[], TEXT[], BYTEA[], TEXT[], BIGINT[], BIGINT[],
  BIGINT[], TEXT[], BIGINT[], TEXT[], TEXT[], TEXT[], BIGINT[], TEXT[], TEXT[], BIGINT[], TEXT[], TEXT[], BIGINT[], TEXT, TEXT[]);
