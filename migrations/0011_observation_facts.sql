-- The parsed content of each observation (root and CRL fingerprints, issuers, nextUpdate) as
-- JSON, written at ingest: the fleet view reads these facts instead of parsing every cluster's
-- ca-crl.pem (thousands of CRLs) on each request. Rows stored before this migration have NULL
-- and are parsed on read.
ALTER TABLE observations ADD COLUMN facts TEXT;
