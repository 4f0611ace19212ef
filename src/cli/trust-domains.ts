import { clientFromOptions, emit, readSetting, UsageError, type ClientOptions } from "./client.js";
import { allPages, fields, table } from "./output.js";

/** A trust domain as GET /v1/trust-domains/{name} answers it. */
interface TrustDomain {
  name: string;
  organization: string;
  caCrl?: boolean;
  createdAt: string;
  roots: { serial: string; generation: number; status: string; imported: boolean; keyAlgorithm: string; keyStorage?: string; subject: string; notAfter: string; fingerprintSha256: string }[];
  warnings?: string[];
}

export interface TrustDomainCreateOptions extends ClientOptions {
  name: string;
  keyAlgorithm?: string;
  validityDays?: number;
  organization?: string;
  importCert?: string;
  importKey?: string;
  /** software (default) or pkcs11: where a generated root's key is made and kept. */
  keyStorage?: string;
  /** An imported root's key already in the HSM (pkcs11: URI), instead of --import-key. */
  importKeyUri?: string;
  caCrl?: boolean;
  output?: string;
}

/**
 * `meshroot trust-domain create --name N`: POST /v1/trust-domains with a generated root
 * (--key-algorithm, --validity-days, --organization) or an imported one (--import-cert and
 * --import-key, both). Throws UsageError when the two forms are mixed or half given.
 */
export async function trustDomainCreateCommand(opts: TrustDomainCreateOptions): Promise<void> {
  const generated = [opts.keyAlgorithm && "--key-algorithm", opts.validityDays !== undefined && "--validity-days", opts.organization && "--organization", opts.keyStorage && "--key-storage"].filter(Boolean);
  const importing = opts.importCert !== undefined || opts.importKey !== undefined || opts.importKeyUri !== undefined;
  if (opts.importKey !== undefined && opts.importKeyUri !== undefined) throw new UsageError("give the imported root's key as --import-key FILE or --import-key-uri pkcs11:…, not both");
  if (importing && (opts.importCert === undefined || (opts.importKey === undefined && opts.importKeyUri === undefined))) {
    throw new UsageError("an imported root needs --import-cert FILE and its key: --import-key FILE, or --import-key-uri pkcs11:… for a key in the HSM");
  }
  if (importing && generated.length > 0) throw new UsageError(`${generated.join(", ")} describe a generated root; an imported one brings its own (drop them or the --import-* flags)`);
  const body: Record<string, unknown> = { name: opts.name, ...(opts.caCrl ? { caCrl: true } : {}) };
  if (importing) {
    const certificatePem = readSetting(opts.importCert!, "--import-cert");
    body.import = opts.importKeyUri !== undefined ? { certificatePem, keyUri: opts.importKeyUri } : { certificatePem, privateKeyPem: readSetting(opts.importKey!, "--import-key") };
  } else if (generated.length > 0) body.root = { keyAlgorithm: opts.keyAlgorithm, validityDays: opts.validityDays, organization: opts.organization, keyStorage: opts.keyStorage };
  const created = await clientFromOptions(opts).post<TrustDomain>("v1/trust-domains", { json: body });
  emit(opts.output, created, (td) => `created trust domain ${td.name}\n${describe(td)}`);
  for (const w of created.warnings ?? []) process.stderr.write(`meshroot: warning: ${w}\n`);
}

/** `meshroot trust-domain update <name> --ca-crl true|false`: PATCH /v1/trust-domains/{name}. */
export async function trustDomainUpdateCommand(name: string, opts: ClientOptions & { caCrl?: string; output?: string }): Promise<void> {
  if (opts.caCrl === undefined) throw new UsageError("say what to change: --ca-crl true|false");
  if (opts.caCrl !== "true" && opts.caCrl !== "false") throw new UsageError(`--ca-crl takes true or false, not ${opts.caCrl}`);
  const td = await clientFromOptions(opts).request("PATCH", `v1/trust-domains/${encodeURIComponent(name)}`, { json: { caCrl: opts.caCrl === "true" } });
  const updated = JSON.parse(td.text) as TrustDomain;
  emit(opts.output, updated, (t) => `updated trust domain ${t.name}
${describe(t)}`);
}

/** `meshroot trust-domain list`: every trust domain with its active root. */
export async function trustDomainListCommand(opts: ClientOptions & { output?: string }): Promise<void> {
  const domains = await allPages<TrustDomain>(clientFromOptions(opts), "v1/trust-domains");
  emit(opts.output, domains, (list) =>
    table(
      ["NAME", "ORGANIZATION", "ROOTS", "ACTIVE ROOT", "NOT AFTER", "CREATED"],
      list.map((td) => {
        const active = td.roots.find((r) => r.status === "active");
        return [td.name, td.organization, td.roots.length, active?.serial, active?.notAfter, td.createdAt];
      }),
      "no trust domains",
    ),
  );
}

/** `meshroot trust-domain show <name>`: the trust domain and its roots. */
export async function trustDomainShowCommand(name: string, opts: ClientOptions & { output?: string }): Promise<void> {
  const td = await clientFromOptions(opts).get<TrustDomain>(`v1/trust-domains/${encodeURIComponent(name)}`);
  emit(opts.output, td, describe);
}

function describe(td: TrustDomain): string {
  const head = fields([["name", td.name], ["organization", td.organization], ["staged rotation (caCrl)", td.caCrl ? "yes" : "no"], ["created", td.createdAt]]);
  const roots = table(
    ["GEN", "SERIAL", "STATUS", "ALGORITHM", "KEY", "IMPORTED", "NOT AFTER", "SHA-256"],
    td.roots.map((r) => [r.generation, r.serial, r.status, r.keyAlgorithm, r.keyStorage ?? "software", r.imported ? "yes" : "no", r.notAfter, r.fingerprintSha256]),
  );
  return `${head}\nroots:\n${roots.replace(/^/gm, "  ")}`;
}
