import { clientFromOptions, emit, readSetting, type ClientOptions } from "./client.js";
import { stderrNotice } from "./notice.js";
import { allPages, fields, query, table } from "./output.js";

/** An intermediate as the API shows it (GET /v1/certificates, a cluster's activeIntermediate). */
export interface Intermediate {
  serial: string;
  cluster: string;
  trustDomain: string;
  generation: number;
  status: string;
  custody: string;
  keyAlgorithm: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  rotateAfter: string;
  supersedes: string | null;
  revokedAt: string | null;
  revocationReason: string | null;
  certificatePem: string;
}

export interface IssueOptions extends ClientOptions {
  csr?: string;
  idempotencyKey?: string;
  output?: string;
}

/**
 * `meshroot issue <cluster> [--csr FILE] [--idempotency-key K]`: POST
 * /v1/clusters/{name}/intermediates. Prints the new intermediate; --output json prints
 * `{ replayed, intermediate, cacerts }` with cacerts' public files only (ca-key.pem stays out of
 * scripts' logs: `meshroot cacerts` writes the Secret that carries it).
 */
export async function issueCommand(cluster: string, opts: IssueOptions): Promise<void> {
  const body = opts.csr ? { csrPem: readSetting(opts.csr, "--csr") } : {};
  const res = await clientFromOptions(opts).request("POST", `v1/clusters/${encodeURIComponent(cluster)}/intermediates`, { json: body }, opts.idempotencyKey ? { "idempotency-key": opts.idempotencyKey } : {});
  const answer = JSON.parse(res.text) as { intermediate: Intermediate; cacerts: Record<string, string> };
  const { "ca-key.pem": _key, ...cacerts } = answer.cacerts;
  const replayed = res.headers["idempotent-replayed"] === "true";
  emit(opts.output, { replayed, intermediate: answer.intermediate, cacerts }, ({ intermediate: i }) => {
    const head = replayed ? `the intermediate issued earlier with this Idempotency-Key (nothing new was issued)` : `issued generation ${i.generation} for ${i.cluster}`;
    const next =
      i.custody === "escrowed"
        ? `write its Secret with: meshroot cacerts ${i.cluster} > secret.yaml`
        : "external key custody: --output json gives ca-cert.pem, cert-chain.pem and root-cert.pem for your key";
    return `${head}\n${describe(i)}\n${next}`;
  });
}

export interface CacertsOptions extends ClientOptions {
  crl?: boolean;
  strictCrl?: boolean;
  format: string;
  namespace: string;
  output: string;
}

/**
 * `meshroot cacerts <cluster>`: the cacerts Secret manifest the server renders (GET
 * /v1/clusters/{name}/cacerts), written to stdout unchanged for `> secret.yaml` or `| kubectl
 * apply -f -`. Warns on stderr about issuers the server left out of ca-crl.pem.
 */
export async function cacertsCommand(cluster: string, opts: CacertsOptions): Promise<void> {
  const crl = opts.strictCrl ? "strict" : opts.crl ? "true" : undefined;
  const res = await clientFromOptions(opts).request("GET", `v1/clusters/${encodeURIComponent(cluster)}/cacerts${query({ format: opts.output, type: opts.format, namespace: opts.namespace, crl })}`);
  const missing = res.headers["meshroot-crl-missing"];
  if (typeof missing === "string" && missing) {
    stderrNotice("warn", `ca-crl.pem lacks the CRLs of external-custody intermediates ${missing.split(",").join(", ")} (no current CRL uploaded); --strict-crl refuses instead`);
  }
  process.stdout.write(res.text.endsWith("\n") ? res.text : `${res.text}\n`);
}

/** `meshroot revoke <serial> --reason R`: POST /v1/certificates/{serial}/revoke; prints the revoked intermediate. */
export async function revokeCommand(serial: string, opts: ClientOptions & { reason: string; output?: string }): Promise<void> {
  const i = await clientFromOptions(opts).post<Intermediate>(`v1/certificates/${encodeURIComponent(serial)}/revoke`, { json: { reason: opts.reason } });
  emit(opts.output, i, (r) => `revoked ${r.serial} (${r.cluster}, generation ${r.generation}): ${r.revocationReason}\n${describe(r)}`);
}

export interface InventoryOptions extends ClientOptions {
  cluster?: string;
  trustDomain?: string;
  status?: string;
  expiresBefore?: string;
  issuedAfter?: string;
  output?: string;
}

/** `meshroot inventory`: every intermediate ever issued matching the filters (GET /v1/certificates, all pages), newest first. */
export async function inventoryCommand(opts: InventoryOptions): Promise<void> {
  const { cluster, trustDomain, status, expiresBefore, issuedAfter } = opts;
  const items = await allPages<Intermediate>(clientFromOptions(opts), "v1/certificates", { cluster, trustDomain, status, expiresBefore, issuedAfter });
  emit(opts.output, items, (list) =>
    table(
      ["SERIAL", "CLUSTER", "TRUST DOMAIN", "GEN", "STATUS", "CUSTODY", "NOT AFTER", "ROTATE AFTER", "REVOKED"],
      list.map((i) => [i.serial, i.cluster, i.trustDomain, i.generation, i.status, i.custody, i.notAfter, i.rotateAfter, i.revocationReason]),
      "no intermediates match",
    ),
  );
}

function describe(i: Intermediate): string {
  return fields([
    ["serial", i.serial],
    ["cluster", i.cluster],
    ["trust domain", i.trustDomain],
    ["generation", i.generation],
    ["status", i.status],
    ["custody", i.custody],
    ["subject", i.subject],
    ["not after", i.notAfter],
    ["rotate after", i.rotateAfter],
    ["revoked", i.revokedAt ? `${i.revokedAt} (${i.revocationReason})` : null],
  ]);
}
