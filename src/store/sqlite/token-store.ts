import type { AuditInput } from "../../core/audit.js";
import type { TokenRecord, TokenStore } from "../../core/ports.js";
import type { AuditAppender } from "./audit-store.js";
import type { Db } from "./database.js";
import { toDate } from "../rows.js";

interface TokenRow {
  id: string;
  name: string;
  role: TokenRecord["role"];
  cluster_patterns: string;
  trust_domains: string;
  token_hash: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

const toToken = (r: TokenRow): TokenRecord => ({
  id: r.id,
  name: r.name,
  role: r.role,
  clusterPatterns: JSON.parse(r.cluster_patterns) as string[],
  trustDomains: JSON.parse(r.trust_domains) as string[],
  tokenHash: r.token_hash,
  createdAt: new Date(r.created_at),
  expiresAt: toDate(r.expires_at),
  lastUsedAt: toDate(r.last_used_at),
  revokedAt: toDate(r.revoked_at),
});

/** API tokens in SQLite, looked up by the SHA-256 of their secret. */
export function sqliteTokenStore(db: Db, append: AuditAppender): TokenStore {
  const insert = db.prepare(`INSERT INTO api_tokens (id, name, role, cluster_patterns, trust_domains, token_hash, created_at, expires_at)
    VALUES (@id, @name, @role, @clusterPatterns, @trustDomains, @tokenHash, @createdAt, @expiresAt)`);
  const byHash = db.prepare("SELECT * FROM api_tokens WHERE token_hash = ?");
  const byId = db.prepare("SELECT * FROM api_tokens WHERE id = ?");
  const page = db.prepare("SELECT * FROM api_tokens WHERE id > @after ORDER BY id LIMIT @limit");
  const revoke = db.prepare("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, @at) WHERE id = @id");
  const touch = db.prepare("UPDATE api_tokens SET last_used_at = @at WHERE id = @id");
  const count = db.prepare("SELECT COUNT(*) AS n FROM api_tokens");

  const insertTx = db.transaction((params: Record<string, unknown>, audit: AuditInput) => {
    insert.run(params);
    append(audit);
  });
  const revokeTx = db.transaction((id: string, at: number, audit: AuditInput) => {
    revoke.run({ id, at });
    const row = byId.get(id) as TokenRow | undefined;
    if (row) append(audit);
    return row;
  });

  return {
    async createToken(t, audit) {
      insertTx.immediate(
        { ...t, clusterPatterns: JSON.stringify(t.clusterPatterns), trustDomains: JSON.stringify(t.trustDomains), createdAt: t.createdAt.getTime(), expiresAt: t.expiresAt?.getTime() ?? null },
        audit,
      );
    },
    async getTokenByHash(hash) {
      const row = byHash.get(hash) as TokenRow | undefined;
      return row && toToken(row);
    },
    async listTokens(p) {
      return (page.all({ after: p.after ?? "", limit: p.limit }) as TokenRow[]).map(toToken);
    },
    async revokeToken(id, at, audit) {
      const row = revokeTx.immediate(id, at.getTime(), audit);
      return row && toToken(row);
    },
    async touchToken(id, at) {
      touch.run({ id, at: at.getTime() });
    },
    async countTokens() {
      return (count.get() as { n: number }).n;
    },
  };
}
