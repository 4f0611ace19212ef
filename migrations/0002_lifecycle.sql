-- Rotation, revocation and CRLs.

-- Every CRL meshroot signed (roots; intermediates with escrowed keys) or accepted (uploads for
-- intermediates with external keys). seq grows by one per issuer; for meshroot's own CRLs it is
-- the CRL number.
CREATE TABLE crls (
  issuer_serial TEXT NOT NULL,
  issuer_kind   TEXT NOT NULL CHECK (issuer_kind IN ('root', 'intermediate')),
  trust_domain  TEXT NOT NULL REFERENCES trust_domains (name),
  seq           INTEGER NOT NULL CHECK (seq >= 1),
  crl_number    INTEGER,
  this_update   INTEGER NOT NULL,
  next_update   INTEGER NOT NULL,
  entries       INTEGER NOT NULL,
  der           BLOB NOT NULL,
  uploaded      INTEGER NOT NULL CHECK (uploaded IN (0, 1)),
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (issuer_serial, seq)
);

CREATE INDEX intermediates_due ON intermediates (status, rotate_after);
CREATE INDEX intermediates_by_root ON intermediates (root_serial, status);
CREATE INDEX intermediates_live ON intermediates (trust_domain, status, not_after);
