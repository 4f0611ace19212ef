import type { TokenRecord, TokenStore } from "../../core/ports.js";
import { appendAudit } from "./audit-store.js";
import type { PgDb } from "./pool.js";
import { toDate } from "../rows.js";

interface TokenRow {
  id: string;
  name: string;
  role: TokenRecord["role"];
  cluster_patterns: string[];
  trust_domains: string[];
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
  clusterPatterns: r.cluster_patterns,
  trustDomains: r.trust_domains,
  tokenHash: r.token_hash,
  createdAt: new Date(r.created_at),
  expiresAt: toDate(r.expires_at),
  lastUsedAt: toDate(r.last_used_at),
  revokedAt: toDate(r.revoked_at),
});

/** API tokens in PostgreSQL, looked up by the SHA-256 of their secret. */
export function postgresTokenStore(db: PgDb): TokenStore {
  const q = db.sql;
  return {
    async createToken(t, audit) {
      await db.tx(async (c) => {
        await c.query(
          `INSERT INTO api_tokens (id, name, role, cluster_patterns, trust_domains, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [t.id, t.name, t.role, JSON.stringify(t.clusterPatterns), JSON.stringify(t.trustDomains), t.tokenHash, t.createdAt.getTime(), t.expiresAt?.getTime() ?? null],
        );
        await appendAudit(c, audit);
      });
    },
    async getTokenByHash(hash) {
      const row = (await db.read.query<TokenRow>("SELECT * FROM api_tokens WHERE token_hash = $1", [hash])).rows[0];
      return row && toToken(row);
    },
    async listTokens(p) {
      const { rows } = await q.query<TokenRow>(`SELECT * FROM api_tokens WHERE id > $1 ORDER BY id LIMIT $2`, [p.after ?? "", p.limit]);
      return rows.map(toToken);
    },
    async revokeToken(id, at, audit) {
      const row = await db.tx(async (c) => {
        await c.query("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1", [id, at.getTime()]);
        const r = (await c.query<TokenRow>("SELECT * FROM api_tokens WHERE id = $1", [id])).rows[0];
        if (r) await appendAudit(c, audit);
        return r;
      });
      return row && toToken(row);
    },
    async touchToken(id, at) {
      await q.query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", [id, at.getTime()]);
    },
    async countTokens() {
      return (await q.query<{ n: number }>("SELECT COUNT(*) AS n FROM api_tokens")).rows[0]!.n;
    },
  };
}
