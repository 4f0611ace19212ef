import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Role, TokenRecord } from "../core/ports.js";
import { TokenRefused, tokenCoversCluster, tokenCoversTrustDomain, type TokenService } from "../core/tokens.js";
import type { AuditService } from "../core/audit-service.js";
import { DomainError, isDomainError } from "../errors.js";
import { auditContext, auditText } from "./audit-context.js";
import type { AuthFailureLimiter } from "./auth-rate-limit.js";

/**
 * Who may call a route: `public` (no token), `any` (any valid token), or a role. Admin passes
 * every role check; routes without an `auth` setting are admin-only (deny by default).
 */
export type Access = "public" | "any" | Role;

/**
 * Where a provisioner's scope is checked: `param` (the `:name` cluster and its trust domain),
 * `body` (`body.name` and `body.trustDomain`), or `run` (`body.trustDomain`, required unless the
 * token may act in every trust domain).
 */
export type ScopeSource = "param" | "body" | "run";

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: Access;
    scope?: ScopeSource;
  }
  interface FastifyRequest {
    token?: TokenRecord;
  }
}

/** The trust domain of a cluster, or undefined when there is no such cluster (the route then 404s). */
export type TrustDomainOf = (cluster: string) => Promise<string | undefined>;

const BEARER = /^Bearer ([\x21-\x7e]+)$/;

function roleAllows(role: Role, access: Access): boolean {
  return access === "public" || access === "any" || role === "admin" || role === access;
}

/**
 * Installs bearer-token authentication, role checks (onRequest) and cluster and trust-domain
 * scope checks (preHandler). Every refusal (401, 403) is counted and written to the audit trail
 * before it is answered; when that cannot be done the answer is 503, never a 5xx that lets the
 * refused request through or goes uncounted.
 */
export function installAuth(
  app: FastifyInstance,
  tokens: Pick<TokenService, "authenticate">,
  audit: Pick<AuditService, "record">,
  limiter: AuthFailureLimiter,
  trustDomainOf: TrustDomainOf,
): void {
  app.decorateRequest("token", undefined);

  const recordDenial = async (request: FastifyRequest, err: DomainError) => {
    const cluster = (request.params as { name?: unknown } | undefined)?.name;
    const route = { type: "route", id: auditText(`${request.method} ${request.routeOptions.url ?? request.url}`) };
    const scope = { cluster: request.routeOptions.url?.startsWith("/v1/clusters/") && typeof cluster === "string" ? auditText(cluster, 63) : null };
    // Counted first: a failure is limited even when the audit trail cannot take the event.
    const crossed = err.code === "unauthorized" && limiter.fail(request.ip);
    const reason = err instanceof TokenRefused ? err.reason : err.message;
    await audit.record(auditContext(request), "request.denied", route, scope, { status: err.code === "unauthorized" ? 401 : 403, reason: auditText(reason, 500) }, "denied");
    if (crossed) {
      await audit.record(auditContext(request), "request.rate_limited", route, scope, { reason: "too many failed authentications from this address" }, "denied");
    }
  };

  const denied = (hook: (request: FastifyRequest, reply: FastifyReply) => Promise<void>) => async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      await hook(request, reply);
    } catch (err) {
      if (!isDomainError(err, "unauthorized", "forbidden")) throw err;
      try {
        await recordDenial(request, err);
      } catch (auditErr) {
        // Fail closed: the request stays refused, and the caller learns to retry (503, not 500).
        request.log.error({ err: auditErr }, "could not audit a refused request");
        throw new DomainError("auth_unavailable", "the request was refused, and the refusal could not be recorded; retry later");
      }
      throw err;
    }
  };

  /** The token behind a bearer secret; a store failure is a 503, never a 500 or a pass. */
  const lookUp = async (secret: string): Promise<TokenRecord> => {
    try {
      return await tokens.authenticate(secret);
    } catch (err) {
      if (isDomainError(err)) throw err;
      throw new DomainError("auth_unavailable", "the token could not be checked right now; retry later");
    }
  };

  // Attached only to routes that are not public (onRoute below).
  const authenticate = denied(async (request, reply) => {
    const access = accessOf(request);
    // A limited address is refused only when it fails again: a valid token is always served.
    const wait = limiter.retryAfter(request.ip);
    const refuse = (err: DomainError): never => {
      if (wait <= 0) throw err;
      reply.header("retry-after", String(wait));
      throw new DomainError("rate_limited", `too many failed authentications from ${request.ip}; retry after ${wait} s`);
    };
    const header = request.headers.authorization;
    if (!header) refuse(new DomainError("unauthorized", "missing Authorization: Bearer <token> header"));
    const match = BEARER.exec(header!);
    if (!match) refuse(new DomainError("unauthorized", "the Authorization header must be 'Bearer <token>'"));
    let token: TokenRecord;
    try {
      token = await lookUp(match![1]!);
    } catch (err) {
      if (isDomainError(err, "unauthorized")) refuse(err);
      throw err;
    }
    request.token = token;
    if (!roleAllows(token.role, access)) {
      throw new DomainError("forbidden", `this operation needs the ${access} role; token ${token.id} has role ${token.role}`);
    }
  });

  const checkScope = denied(async (request) => {
    const source = request.routeOptions.config.scope;
    const token = request.token;
    if (!source || !token || token.role === "admin") return;
    const body = request.body as { name?: string; trustDomain?: string } | undefined;
    const cluster = source === "param" ? (request.params as { name?: string }).name : source === "body" ? body?.name : undefined;
    if (cluster !== undefined && !tokenCoversCluster(token, cluster)) {
      throw new DomainError(
        "forbidden",
        `token ${token.id} is limited to clusters ${token.clusterPatterns.join(", ")}; cluster ${cluster} is outside its scope`,
      );
    }
    const trustDomain = source === "param" ? cluster !== undefined ? await trustDomainOf(cluster) : undefined : body?.trustDomain;
    const limitedTo = token.trustDomains.length === 0 ? "no trust domain" : `trust domains ${token.trustDomains.join(", ")}`;
    if (source === "run" && trustDomain === undefined && !tokenCoversTrustDomain(token, "*")) {
      throw new DomainError("forbidden", `token ${token.id} is limited to ${limitedTo}; name one of them in trustDomain`);
    }
    if (trustDomain !== undefined && !tokenCoversTrustDomain(token, trustDomain)) {
      throw new DomainError("forbidden", `token ${token.id} is limited to ${limitedTo}; trust domain ${trustDomain} is outside its scope`);
    }
  });

  // The checks are attached to each route that needs them (public routes, the trust bundle and
  // CRL among them, run none); a route without an `auth` setting is admin-only.
  app.addHook("onRoute", (route) => {
    if (routeAccess(route.url, route.config?.auth) === "public") return;
    route.onRequest = [...hookList(route.onRequest), authenticate];
    if (route.config?.scope) route.preHandler = [...hookList(route.preHandler), checkScope];
  });
}

const hookList = <T>(hooks: T | T[] | undefined): T[] => (hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]);

/** Who may call a route; the interactive docs are public, every other route admin-only unless it says otherwise. */
function routeAccess(url: string | undefined, auth: Access | undefined): Access {
  if (url === undefined || url === "/docs" || url.startsWith("/docs/")) return "public";
  return auth ?? "admin";
}

function accessOf(request: FastifyRequest): Access {
  return routeAccess(request.routeOptions.url, request.routeOptions.config.auth);
}
