-- Whether a trust domain's clusters load ca-crl.pem (cacerts ?crl=true). When they do, a new
-- intermediate's CRL must reach every peer before the intermediate signs anything, so rotations
-- are staged: prepared first, activated once peers were seen with its CRL (core/staged-rotation.ts).
ALTER TABLE trust_domains ADD COLUMN ca_crl INTEGER NOT NULL DEFAULT 0;
