import { stringify } from "yaml";
import { DomainError } from "../errors.js";

export type SecretFormat = "yaml" | "json";
export type SecretType = "opaque" | "tls";

export const DEFAULT_NAMESPACE = "istio-system";
export const SECRET_NAME = "cacerts";
/** Kubernetes refuses a Secret (and istiod's istio-ca-crl ConfigMap) whose data totals more than 1 MiB, decoded. */
export const MAX_SECRET_DATA_BYTES = 1024 * 1024;

/** The files istiod reads from its `cacerts` Secret (docs/architecture.md, "What meshroot emits"). */
export interface CacertsFiles {
  "ca-cert.pem": string;
  /** Absent for external custody: the key never reaches meshroot. */
  "ca-key.pem"?: string;
  "cert-chain.pem": string;
  "root-cert.pem": string;
  /** Optional (Istio >= 1.27): concatenated PEM CRLs. */
  "ca-crl.pem"?: string;
}

/**
 * Assembles istiod's files: the intermediate, its key, the chain (intermediate then its signing
 * root, as Istio's tooling writes it) and the trust bundle (every trusted root, oldest first).
 */
export function cacertsFiles(input: {
  intermediatePem: string;
  keyPem?: string | undefined;
  signingRootPem: string;
  bundlePems: string[];
}): CacertsFiles {
  return {
    "ca-cert.pem": input.intermediatePem,
    ...(input.keyPem !== undefined ? { "ca-key.pem": input.keyPem } : {}),
    "cert-chain.pem": input.intermediatePem + input.signingRootPem,
    "root-cert.pem": input.bundlePems.join(""),
  };
}

export interface SecretMetadata {
  cluster: string;
  trustDomain: string;
  generation: number;
  serial: string;
  notAfter: Date;
  rotateAfter: Date;
}

export interface SecretOptions {
  format: SecretFormat;
  type: SecretType;
  namespace: string;
}

/**
 * Renders a complete Kubernetes Secret manifest for `kubectl apply -f -`. The Opaque form holds
 * istiod's four files; the `kubernetes.io/tls` form holds tls.crt, tls.key and ca.crt. All keys
 * are in one Secret so an update is atomic. Never emits `istio-generated`.
 */
export function renderCacertsSecret(files: CacertsFiles, meta: SecretMetadata, options: SecretOptions): string {
  const data: Record<string, string> =
    options.type === "tls"
      ? pick({ "tls.crt": files["ca-cert.pem"], "tls.key": files["ca-key.pem"], "ca.crt": files["root-cert.pem"] })
      : pick({ ...files });
  const size = Object.values(data).reduce((n, v) => n + Buffer.byteLength(v, "utf8"), 0);
  if (size > MAX_SECRET_DATA_BYTES) {
    const crl = Buffer.byteLength(data["ca-crl.pem"] ?? "", "utf8");
    throw new DomainError(
      "secret_too_large",
      `the cacerts Secret's data would be ${size} bytes (ca-crl.pem ${crl}); Kubernetes refuses Secrets over ${MAX_SECRET_DATA_BYTES} bytes. ` +
        "Fetch it without crl=true and distribute CRLs another way, or shrink ca-crl.pem: decommission unused clusters and revoke superseded intermediates that are no longer in use (each live intermediate adds a CRL)",
    );
  }
  const manifest = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: SECRET_NAME,
      namespace: options.namespace,
      labels: {
        "app.kubernetes.io/managed-by": "meshroot",
        "meshroot.io/cluster": meta.cluster,
        "meshroot.io/generation": String(meta.generation),
      },
      annotations: {
        "meshroot.io/trust-domain": meta.trustDomain,
        "meshroot.io/serial": meta.serial,
        "meshroot.io/not-after": meta.notAfter.toISOString(),
        "meshroot.io/rotate-after": meta.rotateAfter.toISOString(),
      },
    },
    type: options.type === "tls" ? "kubernetes.io/tls" : "Opaque",
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")])),
  };
  return options.format === "json" ? `${JSON.stringify(manifest, null, 2)}\n` : stringify(manifest, { lineWidth: 0 });
}

function pick(entries: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).filter((e): e is [string, string] => e[1] !== undefined));
}
