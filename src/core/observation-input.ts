import { DomainError } from "../errors.js";
import { observedCertificates, observedCrls } from "./observed-facts.js";
import type { ObservationRecord, ObservedCertificate, ObservedCrl } from "./ports.js";

/** What a cluster reports, as sent; `rootCertPem` undefined only for a CRL-only ConfigMap. */
type ObservationText = Omit<ObservationRecord, "cluster" | "observedAt" | "rootCertPem" | "facts"> & { rootCertPem: string | undefined };

/** What a cluster reports, checked, with its PEM texts parsed (once: the facts are built from them). */
export type ObservationInput = ObservationText & {
  parsed: { roots: ObservedCertificate[] | undefined; caCert: ObservedCertificate | null; crls: ObservedCrl[] | null };
};

const MAX_VERSION = 64;

/**
 * Refuses a body holding a private key: checked on the raw text before it is parsed, stored or
 * logged (a cluster must never send its key here). Throws `private_key_in_body`.
 */
export function refusePrivateKey(text: string): void {
  if (/PRIVATE\s*KEY/i.test(text)) {
    throw new DomainError("private_key_in_body", "the body contains a private key; send only root-cert.pem, ca-cert.pem and ca-crl.pem (nothing was stored)");
  }
}

/**
 * Parses an observation body: JSON `{ rootCertPem, caCertPem?, crlPem?, istioVersion?, multiRoot?,
 * ambient? }` or a Kubernetes ConfigMap (`data["root-cert.pem"]`, `data["ca-crl.pem"]`). Throws
 * `private_key_in_body`, `validation_failed`, `invalid_pem`.
 */
export function parseObservation(text: string): ObservationInput {
  refusePrivateKey(text);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid("body", "expected a JSON object");
  }
  if (!isObject(body)) throw invalid("body", "expected a JSON object");
  // JSON escapes (\u0050RIVATE) could hide the marker from the raw check: check the decoded text too.
  refusePrivateKey(JSON.stringify(body));
  const input = body.kind === "ConfigMap" ? fromConfigMap(body) : fromJson(body);
  const parsed = {
    roots: input.rootCertPem === undefined ? undefined : observedCertificates(input.rootCertPem, "rootCertPem"),
    caCert: input.caCertPem === null ? null : (observedCertificates(input.caCertPem, "caCertPem")[0] ?? null),
    crls: input.crlPem === null ? null : observedCrls(input.crlPem, "crlPem"),
  };
  return { ...input, parsed };
}

function fromJson(body: Record<string, unknown>): ObservationText {
  const known = ["rootCertPem", "caCertPem", "crlPem", "istioVersion", "multiRoot", "ambient"];
  const extra = Object.keys(body).find((k) => !known.includes(k));
  if (extra) throw invalid(`body.${extra}`, "unknown field");
  if (typeof body.rootCertPem !== "string") throw invalid("body.rootCertPem", "required: the PEM text of root-cert.pem");
  return {
    rootCertPem: body.rootCertPem,
    caCertPem: optional(body, "caCertPem"),
    crlPem: optional(body, "crlPem"),
    istioVersion: version(body.istioVersion),
    multiRoot: flag(body, "multiRoot"),
    ambient: flag(body, "ambient"),
    source: "json",
  };
}

function fromConfigMap(body: Record<string, unknown>): ObservationText {
  const data = body.data;
  if (!isObject(data)) throw invalid("body.data", "a ConfigMap needs data");
  const root = data["root-cert.pem"];
  const crl = data["ca-crl.pem"];
  if (root !== undefined && typeof root !== "string") throw invalid("body.data.root-cert.pem", "expected a string");
  if (crl !== undefined && typeof crl !== "string") throw invalid("body.data.ca-crl.pem", "expected a string");
  if (root === undefined && crl === undefined) throw invalid("body.data", "expected root-cert.pem (istio-ca-root-cert) or ca-crl.pem (istio-ca-crl)");
  return { rootCertPem: root, caCertPem: null, crlPem: crl ?? null, istioVersion: null, multiRoot: null, ambient: null, source: "configmap" };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const invalid = (path: string, message: string) => new DomainError("validation_failed", `${path}: ${message}`, [{ path, message }]);

function optional(body: Record<string, unknown>, key: string): string | null {
  const v = body[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw invalid(`body.${key}`, "expected a PEM string");
  return v;
}

function flag(body: Record<string, unknown>, key: string): boolean | null {
  const v = body[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "boolean") throw invalid(`body.${key}`, "expected true or false");
  return v;
}

function version(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string" || v.length === 0 || v.length > MAX_VERSION) throw invalid("body.istioVersion", `expected a string of 1-${MAX_VERSION} characters`);
  return v;
}
