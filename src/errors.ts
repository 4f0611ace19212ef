/**
 * Domain errors carry a stable machine `code` and never an HTTP status: the HTTP layer maps
 * codes to statuses in one place (src/http/error-handler.ts).
 */
export type ErrorCode =
  | "validation_failed"
  | "invalid_pem"
  | "invalid_csr"
  | "csr_signature_invalid"
  | "unsupported_key_algorithm"
  | "policy_violation"
  | "invalid_root"
  | "key_mismatch"
  | "root_expired"
  | "root_path_length"
  | "root_key_usage"
  | "root_extended_key_usage"
  | "root_not_yet_valid"
  | "root_in_use"
  | "trust_domain_not_found"
  | "trust_domain_exists"
  | "cluster_not_found"
  | "cluster_exists"
  | "cluster_decommissioned"
  | "key_unavailable"
  | "pkcs11_not_configured"
  | "hsm_unavailable"
  | "hsm_key_not_found"
  | "token_not_found"
  | "rotation_in_progress"
  | "idempotency_key_reused"
  | "external_custody"
  | "no_active_intermediate"
  | "unauthorized"
  | "forbidden"
  | "decryption_failed"
  | "master_key_mismatch"
  | "config_invalid"
  | "certificate_not_found"
  | "already_revoked"
  | "invalid_crl"
  | "crl_stale"
  | "crl_incomplete"
  | "escrowed_custody"
  | "crl_conflict"
  | "rate_limited"
  | "auth_unavailable"
  | "issuance_rate_limited"
  | "secret_too_large"
  | "intermediate_revoked"
  | "private_key_in_body"
  | "root_rotation_in_progress"
  | "root_rotation_not_found"
  | "root_rotation_conflict"
  | "root_rotation_step"
  | "gate_not_met"
  | "activation_pending"
  | "not_prepared"
  | "database_unavailable";

export interface FieldError {
  path: string;
  message: string;
}

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly errors: FieldError[] | undefined;

  constructor(code: ErrorCode, message: string, errors?: FieldError[]) {
    super(message);
    this.name = "DomainError";
    this.code = code;
    this.errors = errors;
  }
}

/** True when `err` is a DomainError with one of the given codes (any code when none given). */
export function isDomainError(err: unknown, ...codes: ErrorCode[]): err is DomainError {
  return err instanceof DomainError && (codes.length === 0 || codes.includes(err.code));
}
