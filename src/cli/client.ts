import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { Option, type Command } from "commander";

// The CLI's client mode: commands that talk to a running meshroot over its REST API instead of
// opening the database. Requests go through node:http(s) rather than the global fetch because a
// private CA (MESHROOT_CA_FILE) needs a per-request `ca`, which fetch only takes through undici's
// Agent, and undici is not importable by name from Node's bundled copy.

/** Exit codes of client-mode commands (README "Command line"). */
export const EXIT = {
  /** the server refused the request (4xx/5xx problem) */
  refused: 1,
  /** bad flags or client settings (MESHROOT_URL missing, unreadable file, …) */
  usage: 2,
  /** the server could not be reached (connection refused, DNS, TLS, timeout) */
  unreachable: 3,
  /** observe --fail-on-drift: the cluster is not converged */
  notConverged: 4,
} as const;

/** A failure of a client-mode command: what to print (without the token) and the exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly lines: string[] = [],
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** Bad flags or settings (exit 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = "UsageError";
  }
}

/** An RFC 9457 problem as meshroot sends it. */
export interface Problem {
  title: string;
  status: number;
  detail?: string;
  code?: string;
  errors?: { path: string; message: string }[];
}

/** The server answered with an error status (exit 1). */
export class ApiError extends CliError {
  constructor(readonly problem: Problem, hint?: string) {
    const head = problem.detail ? `${problem.title}: ${problem.detail}` : problem.title;
    // The detail often already names a single field's problem: list only what it does not say.
    const lines = (problem.errors ?? []).map((e) => `  - ${e.path}: ${e.message}`).filter((l) => !head.includes(l.slice(4)));
    // The stable code (README "API overview"), so a script can tell e.g. cluster_exists from other refusals.
    if (problem.code) lines.push(`  code: ${problem.code}`);
    super(head, EXIT.refused, hint ? [...lines, hint] : lines);
    this.name = "ApiError";
  }
  get status(): number {
    return this.problem.status;
  }
}

/** The server could not be reached (exit 3). */
export class ConnectionError extends CliError {
  constructor(message: string) {
    super(message, EXIT.unreachable);
    this.name = "ConnectionError";
  }
}

/** Flags every client-mode command accepts; each overrides its environment variable. */
export interface ClientOptions {
  url?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
}

/** Resolved client settings. `tokenSource` names where the token came from (never its value). */
export interface ClientConfig {
  url: URL;
  token: string;
  tokenSource: string;
  ca: string | undefined;
  timeoutMs: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Resolves the client settings from flags, then MESHROOT_URL, MESHROOT_TOKEN /
 * MESHROOT_TOKEN_FILE and MESHROOT_CA_FILE. Throws UsageError naming the missing or bad setting.
 */
export function clientConfig(opts: ClientOptions, env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const set = (v: string | undefined) => (v === undefined || v === "" ? undefined : v);
  const rawUrl = set(opts.url) ?? set(env.MESHROOT_URL);
  if (!rawUrl) throw new UsageError("MESHROOT_URL is not set: set it (or --url) to the server's base URL, e.g. https://meshroot.example.com");
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new UsageError(`${opts.url ? "--url" : "MESHROOT_URL"} is not a URL: ${rawUrl}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`${opts.url ? "--url" : "MESHROOT_URL"} must be an http or https URL`);
  if (url.username || url.password) throw new UsageError("put the token in MESHROOT_TOKEN or MESHROOT_TOKEN_FILE, not in the URL");
  url.search = "";
  url.hash = "";
  if (!url.pathname.endsWith("/")) url.pathname += "/";

  const { token, tokenSource } = resolveToken(opts, env);
  const caFile = set(opts.caFile) ?? set(env.MESHROOT_CA_FILE);
  const caName = opts.caFile ? "--ca-file" : "MESHROOT_CA_FILE";
  if (caFile && url.protocol !== "https:") throw new UsageError(`${caName} is set but the URL is not https`);
  const ca = caFile ? readSetting(caFile, caName) : undefined;
  return { url, token, tokenSource, ca, timeoutMs: DEFAULT_TIMEOUT_MS };
}

function resolveToken(opts: ClientOptions, env: NodeJS.ProcessEnv): { token: string; tokenSource: string } {
  const set = (v: string | undefined) => (v === undefined || v === "" ? undefined : v);
  if (opts.token !== undefined && opts.tokenFile !== undefined) throw new UsageError("give --token or --token-file, not both");
  let token: string | undefined;
  let source: string;
  if (opts.tokenFile !== undefined) [token, source] = [readSetting(opts.tokenFile, "--token-file"), "--token-file"];
  else if (opts.token !== undefined) [token, source] = [opts.token, "--token"];
  else if (set(env.MESHROOT_TOKEN) && set(env.MESHROOT_TOKEN_FILE)) throw new UsageError("set MESHROOT_TOKEN or MESHROOT_TOKEN_FILE, not both");
  else if (set(env.MESHROOT_TOKEN_FILE)) [token, source] = [readSetting(env.MESHROOT_TOKEN_FILE!, "MESHROOT_TOKEN_FILE"), "MESHROOT_TOKEN_FILE"];
  else [token, source] = [set(env.MESHROOT_TOKEN), "MESHROOT_TOKEN"];
  token = token?.trim();
  if (!token) throw new UsageError(`no API token: set MESHROOT_TOKEN_FILE (a file holding the token) or MESHROOT_TOKEN${source !== "MESHROOT_TOKEN" ? ` (${source} is empty)` : ""}`);
  // A token with a line break or control character would be refused by the HTTP layer with a
  // message that quotes the header; say it here, without the value.
  if (/[^\x21-\x7e]/.test(token)) throw new UsageError(`the token from ${source} contains spaces or control characters`);
  return { token, tokenSource: source };
}

/** Reads a file named by a setting; a missing or unreadable file is a usage error naming the setting. */
export function readSetting(file: string, setting: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

/** A request body: a JSON value (serialised) or text sent exactly as given, as application/json. */
export type Body = { json: unknown } | { raw: string };

/** An answer as received: status, headers (lower-case names) and body text. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  type: string;
  text: string;
}

export interface Client {
  readonly config: ClientConfig;
  /** The answer with its status and headers (for a manifest's text, or a header such as idempotent-replayed); throws like get. */
  request(method: string, path: string, body?: Body, headers?: Record<string, string>): Promise<RawAnswer>;
  get<T = unknown>(path: string): Promise<T>;
  post<T = unknown>(path: string, body?: Body, headers?: Record<string, string>): Promise<T>;
  put<T = unknown>(path: string, body?: Body, headers?: Record<string, string>): Promise<T>;
  delete<T = unknown>(path: string): Promise<T>;
}

/**
 * A client for the configured server. Each method resolves the JSON answer (text for a non-JSON
 * answer, undefined for 204) and throws ApiError for an error status, ConnectionError when the
 * server cannot be reached. `path` is relative to the base URL (`v1/fleet` or `/v1/fleet`).
 */
export function createClient(config: ClientConfig): Client {
  const call = <T>(method: string, path: string, body?: Body, headers?: Record<string, string>) => send<T>(config, method, path, body, headers);
  return {
    config,
    request: (method, path, body, headers) => exchange(config, method, path, body, headers),
    get: (path) => call("GET", path),
    post: (path, body, headers) => call("POST", path, body, headers),
    put: (path, body, headers) => call("PUT", path, body, headers),
    delete: (path) => call("DELETE", path),
  };
}

/** createClient(clientConfig(opts)): what a client-mode command's action starts with. Throws UsageError. */
export function clientFromOptions(opts: ClientOptions, env: NodeJS.ProcessEnv = process.env): Client {
  return createClient(clientConfig(opts, env));
}

async function send<T>(config: ClientConfig, method: string, path: string, body?: Body, extra: Record<string, string> = {}): Promise<T> {
  const res = await exchange(config, method, path, body, extra);
  if (res.status === 204) return undefined as T;
  return (/json/i.test(res.type) ? (parseJson(res.text) ?? res.text) : res.text) as T;
}

async function exchange(config: ClientConfig, method: string, path: string, body?: Body, extra: Record<string, string> = {}): Promise<RawAnswer> {
  const target = new URL(path.replace(/^\/+/, ""), config.url);
  const payload = body === undefined ? undefined : "raw" in body ? body.raw : JSON.stringify(body.json);
  const headers: Record<string, string> = {
    accept: "application/json, application/problem+json;q=0.9, */*;q=0.1",
    authorization: `Bearer ${config.token}`,
    "user-agent": "meshroot-cli",
    ...(payload !== undefined ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) } : {}),
    ...extra,
  };
  const res = await new Promise<RawAnswer>((resolve, reject) => {
    const options = { method, headers, timeout: config.timeoutMs, ...(config.ca ? { ca: config.ca } : {}) };
    const req = (target.protocol === "https:" ? httpsRequest : httpRequest)(target, options, (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      response.on("data", (c: Buffer) => chunks.push(c));
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, type: String(response.headers["content-type"] ?? ""), text: Buffer.concat(chunks).toString("utf8") }),
      );
      response.on("error", (err) => reject(unreachable(config, err)));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
    req.on("error", (err) => reject(unreachable(config, err)));
    req.end(payload);
  });
  if (res.status >= 200 && res.status < 300) return res;
  // An error answer is printed: make sure it cannot carry the token back to the terminal.
  const text = redact(res.text, config.token);
  throw apiError(config, res.status, /json/i.test(res.type) ? parseJson(text) : undefined, text);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function apiError(config: ClientConfig, status: number, json: unknown, text: string): ApiError {
  const p = (json ?? {}) as Partial<Problem>;
  const problem: Problem =
    typeof p.title === "string"
      ? { title: p.title, status, detail: p.detail, code: p.code, errors: Array.isArray(p.errors) ? p.errors : undefined }
      : { title: `HTTP ${status}`, status, detail: text.trim().slice(0, 200) || undefined };
  const hint =
    status === 401
      ? `  (the token came from ${config.tokenSource}; check that it is current and meant for ${config.url.origin})`
      : status === 404 && problem.code === "route_not_found"
        ? `  (is ${config.url.href} meshroot's base URL?)`
        : undefined;
  return new ApiError(problem, hint);
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ETIMEDOUT: "timed out",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's certificate is self-signed (set MESHROOT_CA_FILE)",
  SELF_SIGNED_CERT_IN_CHAIN: "the server's certificate chains to an unknown CA (set MESHROOT_CA_FILE)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's certificate cannot be verified (set MESHROOT_CA_FILE)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the server's certificate chains to an unknown CA (set MESHROOT_CA_FILE)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's certificate does not name this host",
  CERT_HAS_EXPIRED: "the server's certificate has expired",
  EPROTO: "TLS handshake failed (does the server speak https on this port?)",
};

function unreachable(config: ClientConfig, err: Error): ConnectionError {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  return new ConnectionError(`cannot reach ${config.url.origin}: ${REASONS[code] ?? redact(err.message.split("\n")[0]!.trim(), config.token)}`);
}

/** `text` with every occurrence of the token replaced: nothing printed may carry it. */
export function redact(text: string, token: string | undefined): string {
  return token ? text.split(token).join("[token]") : text;
}

/**
 * Adds the client-mode flags (--url, --token-file, --token, --ca-file) to a command, and
 * --output when `output` is true; makes commander's own usage errors exit 2 like ours. Returns
 * the command for chaining.
 */
export function withClientOptions(cmd: Command, output = true): Command {
  cmd
    // commander has printed its message (missing option, bad choice); help and version exit 0.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT.usage))
    .option("--url <url>", "server base URL (default: MESHROOT_URL)")
    .option("--token-file <file>", "file holding the API token (default: MESHROOT_TOKEN_FILE, else MESHROOT_TOKEN)")
    .addOption(new Option("--token <token>", "the API token itself; visible in shell history and ps, prefer MESHROOT_TOKEN_FILE or MESHROOT_TOKEN"))
    .option("--ca-file <file>", "PEM CA certificate(s) to verify the server's TLS certificate (default: MESHROOT_CA_FILE)");
  if (output) cmd.addOption(new Option("--output <format>", "human-readable text or JSON for scripts").choices(["table", "json"]).default("table"));
  return cmd;
}

/** Prints `value` as JSON, or as `human(value)` for the table format. */
export function emit<T>(format: string | undefined, value: T, human: (v: T) => string): void {
  process.stdout.write(format === "json" ? `${JSON.stringify(value, null, 2)}\n` : ensureNewline(human(value)));
}

const ensureNewline = (s: string) => (s.endsWith("\n") ? s : `${s}\n`);

/** Writes a CliError as `meshroot: <message>` plus its lines to stderr; returns its exit code. */
export function reportCliError(err: CliError): number {
  process.stderr.write(`${[`meshroot: ${err.message}`, ...err.lines].join("\n")}\n`);
  return err.exitCode;
}
