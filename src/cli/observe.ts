import { clientFromOptions, emit, EXIT, readSetting, UsageError, type Body, type ClientOptions } from "./client.js";

export interface ObserveOptions extends ClientOptions {
  cluster: string;
  rootCert?: string;
  caCert?: string;
  crl?: string;
  istioVersion?: string;
  multiRoot?: boolean;
  ambient?: boolean;
  configmap?: string;
  output?: string;
  failOnDrift?: boolean;
}

/** The parts of the server's fleet entry this command prints. */
interface FleetEntry {
  name: string;
  trustDomain: string;
  generation: number | null;
  trust: { state: string; reasons: { code: string; detail: string }[] };
}

/**
 * `meshroot observe`: sends what the cluster's Istio loaded (PUT /v1/clusters/{name}/observation)
 * and prints its trust state. Throws UsageError for bad flags; ApiError/ConnectionError from the
 * client. With --fail-on-drift, sets exit code 4 when the answer is not `converged`.
 */
export async function observeCommand(opts: ObserveOptions): Promise<void> {
  const body = await observationBody(opts);
  const client = clientFromOptions(opts);
  const entry = await client.put<FleetEntry>(`v1/clusters/${encodeURIComponent(opts.cluster)}/observation`, body);
  emit(opts.output, entry, describe);
  if (opts.failOnDrift && entry.trust.state !== "converged") process.exitCode = EXIT.notConverged;
}

/**
 * The request body: a ConfigMap as JSON, unedited (`--configmap FILE|-`), or the files given by
 * flags as `{ rootCertPem, caCertPem?, crlPem?, istioVersion?, multiRoot?, ambient? }`. Stdin is
 * read only for `--configmap -`, so a step without piped input never waits on it.
 */
export async function observationBody(opts: ObserveOptions): Promise<Body> {
  const fileFlags = [opts.rootCert && "--root-cert", opts.caCert && "--ca-cert", opts.crl && "--crl"].filter(Boolean);
  const factFlags = [
    opts.istioVersion !== undefined && "--istio-version",
    opts.multiRoot !== undefined && "--[no-]multi-root",
    opts.ambient !== undefined && "--[no-]ambient",
  ].filter(Boolean);
  if (opts.configmap !== undefined) {
    const others = [...fileFlags, ...factFlags];
    if (others.length > 0) throw new UsageError(`--configmap sends the ConfigMap as it is; it does not go with ${others.join(", ")}`);
    const text = opts.configmap === "-" ? await readStdin() : readSetting(opts.configmap, "--configmap");
    if (text.trim() === "") {
      throw new UsageError(`${opts.configmap === "-" ? "stdin" : opts.configmap} is empty: pipe in \`kubectl -n istio-system get cm istio-ca-root-cert -o json\``);
    }
    return { raw: text };
  }
  if (!opts.rootCert) {
    throw new UsageError(
      "say what the cluster loaded: --root-cert FILE (root-cert.pem) [--ca-cert FILE] [--crl FILE], or --configmap - with " +
        "`kubectl -n istio-system get cm istio-ca-root-cert -o json` on stdin",
    );
  }
  const json: Record<string, unknown> = { rootCertPem: readSetting(opts.rootCert, "--root-cert") };
  if (opts.caCert) json.caCertPem = readSetting(opts.caCert, "--ca-cert");
  if (opts.crl) json.crlPem = readSetting(opts.crl, "--crl");
  if (opts.istioVersion !== undefined) json.istioVersion = opts.istioVersion;
  if (opts.multiRoot !== undefined) json.multiRoot = opts.multiRoot;
  if (opts.ambient !== undefined) json.ambient = opts.ambient;
  return { json };
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError("--configmap - reads the ConfigMap from stdin, but stdin is a terminal: pipe kubectl's output in");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** One line for the state, one per reason. */
export function describe(entry: FleetEntry): string {
  const generation = entry.generation === null ? "no active intermediate" : `generation ${entry.generation}`;
  const head = `${entry.name}: ${entry.trust.state} (trust domain ${entry.trustDomain}, ${generation})`;
  return [head, ...entry.trust.reasons.map((r) => `  - ${r.code}: ${r.detail}`)].join("\n");
}
