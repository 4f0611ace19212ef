-- A root row holds a reference to its private key, never key bytes: the keys layer resolves it
-- (`sealed:root:<serial>:<hex>` is an envelope sealed under the master key with AAD
-- `root:<serial>`; an HSM key is a `pkcs11:` URI), so a key can move into an HSM without the
-- storage knowing. Existing sealed keys become `sealed:` references holding the same bytes.
ALTER TABLE roots ADD COLUMN key_ref TEXT NOT NULL DEFAULT '';
UPDATE roots SET key_ref = 'sealed:root:' || serial || ':' || lower(hex(sealed_key));
ALTER TABLE roots DROP COLUMN sealed_key;

-- SQLite tests a CHECK added with a column against the existing rows, which hold the default ''
-- until the UPDATE above, so these triggers stand in for CHECK (key_ref <> '').
CREATE TRIGGER roots_key_ref_insert BEFORE INSERT ON roots WHEN NEW.key_ref = ''
BEGIN
  SELECT RAISE(ABORT, 'roots.key_ref must not be empty');
END;

CREATE TRIGGER roots_key_ref_update BEFORE UPDATE OF key_ref ON roots WHEN NEW.key_ref = ''
BEGIN
  SELECT RAISE(ABORT, 'roots.key_ref must not be empty');
END;
