-- The subject of each intermediate as text, written at issuance, so that listings need not
-- parse every certificate. Rows issued before this migration have NULL (read from the PEM).
ALTER TABLE intermediates ADD COLUMN subject TEXT;
