-- API tokens carry the trust domains they may act in (a JSON array of names, or ["*"] for all).
-- For a provisioner an empty list means none. Tokens created before this migration were not
-- limited by trust domain, so existing provisioner tokens get ["*"]: nothing breaks on upgrade,
-- and the README tells operators to replace them with narrower ones. Admin and auditor tokens
-- are not limited by trust domain and keep [].
ALTER TABLE api_tokens ADD COLUMN trust_domains TEXT NOT NULL DEFAULT '[]';
UPDATE api_tokens SET trust_domains = '["*"]' WHERE role = 'provisioner';
