import type { TokenRecord, TokenStore } from "../ca/store.js";
import { toDate, type Db } from "./database.js";

interface TokenRow {
  id: string;
  name: string;
  role: TokenRecord["role"];
  cluster_patterns: string;
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
  tokenHash: r.token_hash,
  createdAt: new Date(r.created_at),
  expiresAt: toDate(r.expires_at),
  lastUsedAt: toDate(r.last_used_at),
  revokedAt: toDate(r.revoked_at),
});

/** API tokens in SQLite, looked up by the SHA-256 of their secret. */
export function sqliteTokenStore(db: Db): TokenStore {
  const insert = db.prepare(`INSERT INTO api_tokens (id, name, role, cluster_patterns, token_hash, created_at, expires_at)
    VALUES (@id, @name, @role, @clusterPatterns, @tokenHash, @createdAt, @expiresAt)`);
  const byHash = db.prepare("SELECT * FROM api_tokens WHERE token_hash = ?");
  const byId = db.prepare("SELECT * FROM api_tokens WHERE id = ?");
  const page = db.prepare("SELECT * FROM api_tokens WHERE id > @after ORDER BY id LIMIT @limit");
  const revoke = db.prepare("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, @at) WHERE id = @id");
  const touch = db.prepare("UPDATE api_tokens SET last_used_at = @at WHERE id = @id");
  const count = db.prepare("SELECT COUNT(*) AS n FROM api_tokens");

  const revokeTx = db.transaction((id: string, at: number) => {
    revoke.run({ id, at });
    return byId.get(id) as TokenRow | undefined;
  });

  return {
    async createToken(t) {
      insert.run({
        ...t,
        clusterPatterns: JSON.stringify(t.clusterPatterns),
        createdAt: t.createdAt.getTime(),
        expiresAt: t.expiresAt?.getTime() ?? null,
      });
    },
    async getTokenByHash(hash) {
      const row = byHash.get(hash) as TokenRow | undefined;
      return row && toToken(row);
    },
    async listTokens(p) {
      return (page.all({ after: p.after ?? "", limit: p.limit }) as TokenRow[]).map(toToken);
    },
    async revokeToken(id, at) {
      const row = revokeTx(id, at.getTime());
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
