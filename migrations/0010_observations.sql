-- What each cluster's Istio reports it has loaded (issue 10): every observation is kept, so the
-- history shows when a cluster converged or drifted. The PEM texts are public material (roots,
-- istiod's certificate, CRLs); bodies holding a private key are refused before they get here.
CREATE TABLE observations (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  cluster       TEXT NOT NULL REFERENCES clusters (name),
  observed_at   INTEGER NOT NULL,
  root_cert_pem TEXT NOT NULL,
  ca_cert_pem   TEXT,
  crl_pem       TEXT,
  istio_version TEXT,
  multi_root    INTEGER CHECK (multi_root IN (0, 1)),
  ambient       INTEGER CHECK (ambient IN (0, 1)),
  source        TEXT NOT NULL CHECK (source IN ('json', 'configmap'))
);

CREATE INDEX observations_by_cluster ON observations (cluster, id);
