import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "../clock.js";
import { DomainError } from "../errors.js";
import { auditInput, type AuditContext } from "./audit.js";
import { matchesPattern } from "./names.js";
import type { Page, Role, Store, TokenRecord } from "./ports.js";

const TOKEN_PREFIX = "mrt_";
/** Longest bearer secret accepted (a MESHROOT_ADMIN_TOKEN may be any string up to this). */
export const MAX_TOKEN_LENGTH = 512;
/** last_used_at is written at most this often per token, to keep reads from writing. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * A refused bearer token. The caller is told only that the token is not valid (whether a token
 * once existed is not theirs to learn); `reason` is for the audit trail.
 */
export class TokenRefused extends DomainError {
  constructor(readonly reason: string) {
    super("unauthorized", "the token is not valid");
  }
}

/** SHA-256 (hex) of a token secret: the only form in which tokens are stored. */
export function hashToken(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** A new random token secret: `mrt_` and 32 random bytes, base64url. */
export function newTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

/** True when a token may act in the trust domain: admins always, provisioners when listed (or `*`). */
export function tokenCoversTrustDomain(token: Pick<TokenRecord, "role" | "trustDomains">, trustDomain: string): boolean {
  if (token.role === "admin") return true;
  return token.trustDomains.some((d) => d === "*" || d === trustDomain);
}

/** True when a token may act on the named cluster: admins always, provisioners by pattern. */
export function tokenCoversCluster(token: Pick<TokenRecord, "role" | "clusterPatterns">, cluster: string): boolean {
  if (token.role === "admin") return true;
  if (token.clusterPatterns.length === 0) return true;
  return token.clusterPatterns.some((p) => matchesPattern(cluster, p));
}

export interface CreateTokenInput {
  name: string;
  role: Role;
  clusterPatterns?: string[] | undefined;
  /** Provisioner only: trust domains it may act in (`*`: all). Omitted or empty: none. */
  trustDomains?: string[] | undefined;
  expiresAt?: Date | undefined;
  /** Use this secret instead of a random one (the bootstrap admin token from the environment). */
  secret?: string | undefined;
}

type Deps = {
  store: Pick<Store, "createToken" | "getTokenByHash" | "listTokens" | "revokeToken" | "touchToken" | "countTokens">;
  clock: Clock;
};

/** API tokens: created with a role and optional cluster and trust-domain scope, stored hashed, shown once. */
export function tokenService({ store, clock }: Deps) {
  return {
    /** Creates a token and returns its record and secret (shown once). Throws `validation_failed`. */
    async create(input: CreateTokenInput, ctx: AuditContext): Promise<{ record: TokenRecord; secret: string }> {
      // The name is written into every audit event the token causes: printable and bounded.
      if (!/^[\x20-\x7e]{1,100}$/.test(input.name)) {
        throw new DomainError("validation_failed", "a token name is 1-100 printable ASCII characters", [{ path: "name", message: "must be 1-100 printable ASCII characters" }]);
      }
      const patterns = input.clusterPatterns ?? [];
      if (patterns.length > 0 && input.role !== "provisioner") {
        throw new DomainError("validation_failed", "only provisioner tokens can be limited to cluster patterns", [
          { path: "clusters", message: `role ${input.role} takes no cluster patterns` },
        ]);
      }
      const trustDomains = [...new Set(input.trustDomains ?? [])];
      if (trustDomains.length > 0 && input.role !== "provisioner") {
        throw new DomainError("validation_failed", "only provisioner tokens are limited to trust domains", [
          { path: "trustDomains", message: `role ${input.role} takes no trust domains` },
        ]);
      }
      if (trustDomains.includes("*") && trustDomains.length > 1) {
        throw new DomainError("validation_failed", "'*' (every trust domain) stands alone", [
          { path: "trustDomains", message: "give ['*'] or a list of trust domains, not both" },
        ]);
      }
      const now = clock.now();
      if (input.expiresAt && input.expiresAt.getTime() <= now.getTime()) {
        throw new DomainError("validation_failed", "expiresAt must be in the future", [
          { path: "expiresAt", message: "must be in the future" },
        ]);
      }
      const secret = input.secret ?? newTokenSecret();
      const record: TokenRecord = {
        id: `tok_${randomBytes(9).toString("base64url")}`,
        name: input.name,
        role: input.role,
        clusterPatterns: patterns,
        trustDomains,
        tokenHash: hashToken(secret),
        createdAt: now,
        expiresAt: input.expiresAt ?? null,
        lastUsedAt: null,
        revokedAt: null,
      };
      await store.createToken(
        record,
        auditInput(ctx, now, "token.create", { type: "token", id: record.id }, {}, {
          name: record.name,
          role: record.role,
          clusters: record.clusterPatterns,
          trustDomains: record.trustDomains,
          expiresAt: record.expiresAt?.toISOString() ?? null,
        }),
      );
      return { record, secret };
    },

    /**
     * Resolves a bearer secret to its token. Throws TokenRefused (`unauthorized`) for an unknown,
     * malformed, revoked or expired token.
     */
    async authenticate(secret: string): Promise<TokenRecord> {
      if (secret.length === 0 || secret.length > MAX_TOKEN_LENGTH) throw new TokenRefused("malformed token");
      const hash = hashToken(secret);
      const token = await store.getTokenByHash(hash);
      // The lookup is by hash; the comparison is repeated in constant time all the same.
      if (!token || !timingSafeEqual(Buffer.from(token.tokenHash, "hex"), Buffer.from(hash, "hex"))) {
        throw new TokenRefused("unknown token");
      }
      const now = clock.now();
      if (token.revokedAt) throw new TokenRefused(`token ${token.id} has been revoked`);
      if (token.expiresAt && token.expiresAt.getTime() <= now.getTime()) throw new TokenRefused(`token ${token.id} has expired`);
      if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) {
        await store.touchToken(token.id, now);
      }
      return token;
    },

    list: (page: Page) => store.listTokens(page),

    /** Revokes a token; throws `token_not_found`. Revoking twice keeps the first revocation time. */
    async revoke(id: string, ctx: AuditContext): Promise<TokenRecord> {
      const now = clock.now();
      const token = await store.revokeToken(id, now, auditInput(ctx, now, "token.revoke", { type: "token", id }, {}));
      if (!token) throw new DomainError("token_not_found", `token ${id} does not exist`);
      return token;
    },

    /** True once any token exists (the bootstrap admin token has been created). */
    async bootstrapped(): Promise<boolean> {
      return (await store.countTokens()) > 0;
    },
  };
}

export type TokenService = ReturnType<typeof tokenService>;
