import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Role, TokenRecord } from "../core/ports.js";
import { tokenCoversCluster, type TokenService } from "../core/tokens.js";
import type { AuditService } from "../core/audit-service.js";
import { DomainError, isDomainError } from "../errors.js";
import { auditContext } from "./audit-context.js";
import type { AuthFailureLimiter } from "./auth-rate-limit.js";

/**
 * Who may call a route: `public` (no token), `any` (any valid token), or a role. Admin passes
 * every role check; routes without an `auth` setting are admin-only (deny by default).
 */
export type Access = "public" | "any" | Role;

/** Where a provisioner's cluster patterns are checked: the `:name` path parameter or `body.name`. */
export type ScopeSource = "param" | "body";

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: Access;
    scope?: ScopeSource;
  }
  interface FastifyRequest {
    token?: TokenRecord;
  }
}

const BEARER = /^Bearer ([\x21-\x7e]+)$/;

function roleAllows(role: Role, access: Access): boolean {
  return access === "public" || access === "any" || role === "admin" || role === access;
}

/**
 * Installs bearer-token authentication, role checks (onRequest) and cluster scope checks
 * (preHandler). Every refusal (401, 403) is written to the audit trail before it is answered.
 */
export function installAuth(
  app: FastifyInstance,
  tokens: Pick<TokenService, "authenticate">,
  audit: Pick<AuditService, "record">,
  limiter: AuthFailureLimiter,
): void {
  app.decorateRequest("token", undefined);

  const denied = (hook: (request: FastifyRequest, reply: FastifyReply) => Promise<void>) => async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      await hook(request, reply);
    } catch (err) {
      if (isDomainError(err, "unauthorized", "forbidden")) {
        const cluster = (request.params as { name?: string } | undefined)?.name ?? null;
        const route = { type: "route", id: `${request.method} ${request.routeOptions.url ?? request.url}` };
        const scope = { cluster: request.routeOptions.url?.startsWith("/v1/clusters/") ? cluster : null };
        await audit.record(auditContext(request), "request.denied", route, scope, { status: err.code === "unauthorized" ? 401 : 403, reason: err.message }, "denied");
        if (err.code === "unauthorized" && limiter.fail(request.ip)) {
          await audit.record(auditContext(request), "request.rate_limited", route, scope, { reason: "too many failed authentications from this address" }, "denied");
        }
      }
      throw err;
    }
  };

  // Attached only to routes that are not public (onRoute below).
  const authenticate = denied(async (request, reply) => {
    const access = accessOf(request);
    const wait = limiter.retryAfter(request.ip);
    if (wait > 0) {
      reply.header("retry-after", String(wait));
      throw new DomainError("rate_limited", `too many failed authentications from ${request.ip}; retry after ${wait} s`);
    }
    const header = request.headers.authorization;
    if (!header) throw new DomainError("unauthorized", "missing Authorization: Bearer <token> header");
    const match = BEARER.exec(header);
    if (!match) throw new DomainError("unauthorized", "the Authorization header must be 'Bearer <token>'");
    const token = await tokens.authenticate(match[1]!);
    request.token = token;
    if (!roleAllows(token.role, access)) {
      throw new DomainError("forbidden", `this operation needs the ${access} role; token ${token.id} has role ${token.role}`);
    }
  });

  const checkScope = denied(async (request) => {
    const source = request.routeOptions.config.scope;
    const token = request.token;
    if (!source || !token) return;
    const cluster =
      source === "param" ? (request.params as { name?: string }).name : (request.body as { name?: string } | undefined)?.name;
    if (cluster !== undefined && !tokenCoversCluster(token, cluster)) {
      throw new DomainError(
        "forbidden",
        `token ${token.id} is limited to clusters ${token.clusterPatterns.join(", ")}; cluster ${cluster} is outside its scope`,
      );
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
