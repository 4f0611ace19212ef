import type { FastifyRequest } from "fastify";
import type { AuditContext } from "../core/audit.js";

/** Longest text taken from a request into an audit field. */
export const AUDIT_TEXT_MAX = 200;

/**
 * Request text made safe for the audit trail: control characters (newlines, escapes, NUL) become
 * U+FFFD and the result is cut to `max` characters, so a caller cannot forge lines or bloat events.
 */
export function auditText(value: string, max = AUDIT_TEXT_MAX): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "\ufffd");
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** The audit context of a request: its token (or anonymous), request id and source address. */
export function auditContext(request: FastifyRequest): AuditContext {
  const token = request.token;
  return {
    actor: token ? { type: "token", id: token.id, name: auditText(token.name) } : { type: "anonymous", id: "anonymous", name: "anonymous" },
    requestId: auditText(request.id),
    sourceIp: auditText(request.ip, 64),
  };
}
