import { clientFromOptions, emit, readSetting, UsageError, type ClientOptions } from "./client.js";
import { allPages, fields, table } from "./output.js";

/** A trust domain as GET /v1/trust-domains/{name} answers it. */
interface TrustDomain {
  name: string;
  organization: string;
  createdAt: string;
  roots: { serial: string; generation: number; status: string; imported: boolean; keyAlgorithm: string; subject: string; notAfter: string; fingerprintSha256: string }[];
  warnings?: string[];
}

export interface TrustDomainCreateOptions extends ClientOptions {
  name: string;
  keyAlgorithm?: string;
  validityDays?: number;
  organization?: string;
  importCert?: string;
  importKey?: string;
  output?: string;
}

/**
 * `meshroot trust-domain create --name N`: POST /v1/trust-domains with a generated root
 * (--key-algorithm, --validity-days, --organization) or an imported one (--import-cert and
 * --import-key, both). Throws UsageError when the two forms are mixed or half given.
 */
export async function trustDomainCreateCommand(opts: TrustDomainCreateOptions): Promise<void> {
  const generated = [opts.keyAlgorithm && "--key-algorithm", opts.validityDays !== undefined && "--validity-days", opts.organization && "--organization"].filter(Boolean);
  const importing = opts.importCert !== undefined || opts.importKey !== undefined;
  if (importing && (opts.importCert === undefined || opts.importKey === undefined)) throw new UsageError("an imported root needs both --import-cert FILE and --import-key FILE");
  if (importing && generated.length > 0) throw new UsageError(`${generated.join(", ")} describe a generated root; an imported one brings its own (drop them or the --import-* flags)`);
  const body: Record<string, unknown> = { name: opts.name };
  if (importing) body.import = { certificatePem: readSetting(opts.importCert!, "--import-cert"), privateKeyPem: readSetting(opts.importKey!, "--import-key") };
  else if (generated.length > 0) body.root = { keyAlgorithm: opts.keyAlgorithm, validityDays: opts.validityDays, organization: opts.organization };
  const created = await clientFromOptions(opts).post<TrustDomain>("v1/trust-domains", { json: body });
  emit(opts.output, created, (td) => `created trust domain ${td.name}\n${describe(td)}`);
  for (const w of created.warnings ?? []) process.stderr.write(`meshroot: warning: ${w}\n`);
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
  const head = fields([["name", td.name], ["organization", td.organization], ["created", td.createdAt]]);
  const roots = table(
    ["GEN", "SERIAL", "STATUS", "ALGORITHM", "IMPORTED", "NOT AFTER", "SHA-256"],
    td.roots.map((r) => [r.generation, r.serial, r.status, r.keyAlgorithm, r.imported ? "yes" : "no", r.notAfter, r.fingerprintSha256]),
  );
  return `${head}\nroots:\n${roots.replace(/^/gm, "  ")}`;
}
