import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { DomainError, type ErrorCode, type FieldError } from "../errors.js";

/** The HTTP status of every domain error code: the one place codes meet statuses. */
const STATUS: Record<ErrorCode, number> = {
  validation_failed: 400,
  invalid_pem: 400,
  invalid_csr: 400,
  csr_signature_invalid: 422,
  unsupported_key_algorithm: 422,
  policy_violation: 422,
  invalid_root: 422,
  key_mismatch: 422,
  root_expired: 422,
  root_path_length: 422,
  root_key_usage: 422,
  root_extended_key_usage: 422,
  root_not_yet_valid: 422,
  root_in_use: 409,
  idempotency_key_reused: 422,
  trust_domain_not_found: 404,
  cluster_not_found: 404,
  token_not_found: 404,
  trust_domain_exists: 409,
  cluster_exists: 409,
  cluster_decommissioned: 409,
  rotation_in_progress: 409,
  external_custody: 409,
  no_active_intermediate: 409,
  unauthorized: 401,
  forbidden: 403,
  decryption_failed: 500,
  master_key_mismatch: 500,
  key_unavailable: 503,
  pkcs11_not_configured: 409,
  hsm_unavailable: 503,
  hsm_key_not_found: 422,
  config_invalid: 500,
  certificate_not_found: 404,
  already_revoked: 409,
  invalid_crl: 422,
  crl_stale: 409,
  crl_incomplete: 409,
  escrowed_custody: 409,
  crl_conflict: 409,
  rate_limited: 429,
  auth_unavailable: 503,
  issuance_rate_limited: 429,
  secret_too_large: 422,
  intermediate_revoked: 409,
  private_key_in_body: 422,
  root_rotation_in_progress: 409,
  root_rotation_not_found: 404,
  root_rotation_conflict: 409,
  root_rotation_step: 409,
  gate_not_met: 409,
  activation_pending: 409,
  not_prepared: 409,
  database_unavailable: 503,
};

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** Fastify's own client errors, by their FST_ code. */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "payload_too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_EMPTY_JSON_BODY: "invalid_json",
  FST_ERR_CTP_INVALID_JSON_BODY: "invalid_json",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "bad_request",
};

/** Sends an RFC 9457 problem. */
export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
  errors?: FieldError[],
): FastifyReply {
  if (status === 401) reply.header("www-authenticate", 'Bearer realm="meshroot"');
  return reply
    .code(status)
    .type("application/problem+json")
    .send({
      type: `urn:meshroot:problem:${code}`,
      title: TITLES[status] ?? "Error",
      status,
      detail,
      code,
      requestId: request.id,
      ...(errors ? { errors } : {}),
    });
}

/** Installs the error and not-found handlers; 5xx details go to the log, never to the client. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof DomainError) {
      const status = STATUS[err.code];
      // 503: a dependency (a key store) is unavailable; say which problem, keep the rest in the log.
      if (status === 503) request.log.error({ err }, "request failed: a dependency is unavailable");
      else if (status >= 500) return internal(err, request, reply);
      return sendProblem(request, reply, status, err.code, err.message, err.errors);
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? "body";
      const errors = err.validation.map((v) => {
        const segments = v.instancePath.split("/").filter(Boolean);
        return { path: [where, ...segments].join("."), message: readable(v.message ?? "invalid", segments.at(-1)) };
      });
      const summary = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
      return sendProblem(request, reply, 400, "validation_failed", `invalid request: ${summary}`, errors);
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = FASTIFY_CODES[err.code] ?? (err instanceof SyntaxError ? "invalid_json" : "bad_request");
      return sendProblem(request, reply, status, code, clientErrorDetail(code, err, request));
    }
    return internal(err, request, reply);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, 404, "route_not_found", `no route ${request.method} ${request.url.split("?")[0]}`),
  );
}

/** Zod's messages, as a person would say them: a missing field is required, an unknown one named. */
function readable(message: string, field: string | undefined): string {
  if (/expected [^,]+, received undefined$/.test(message)) return field ? `\`${field}\` is required` : "is required";
  const unknown = /^Unrecognized keys?: (.+)$/.exec(message);
  if (unknown) return `unknown field${unknown[1]!.includes(",") ? "s" : ""} ${unknown[1]!.replaceAll('"', "`")}`;
  return message;
}

/** Details for the framework's own 4xx answers that say what to send instead. */
function clientErrorDetail(code: string, err: FastifyError, request: FastifyRequest): string {
  // invalid_json: json-body.ts writes the detail (what and where).
  if (code === "unsupported_media_type") {
    const got = request.headers["content-type"];
    return `send the body as application/json${got ? ` (got ${got.split(";")[0]})` : " (no Content-Type header)"}`;
  }
  return err.message;
}

function internal(err: Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  request.log.error({ err }, "request failed");
  return sendProblem(request, reply, 500, "internal_error", `an unexpected error occurred; quote request id ${request.id} to the operator`);
}
