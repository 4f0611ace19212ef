import type { FastifyRequest } from "fastify";
import type { AuditContext } from "../core/audit.js";

/** The audit context of a request: its token (or anonymous), request id and source address. */
export function auditContext(request: FastifyRequest): AuditContext {
  const token = request.token;
  return {
    actor: token ? { type: "token", id: token.id, name: token.name } : { type: "anonymous", id: "anonymous", name: "anonymous" },
    requestId: request.id,
    sourceIp: request.ip,
  };
}
