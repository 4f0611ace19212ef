import { systemContext } from "../core/audit.js";
import { DAY_MS } from "../clock.js";
import { parseConfig } from "../config.js";
import { tokenView } from "../http/views.js";
import { openRuntime } from "../runtime.js";
import { clientFromOptions, emit, type ClientOptions } from "./client.js";
import { modeOf, type DualModeOptions } from "./mode.js";
import { stderrNotice } from "./notice.js";
import { allPages, fields, table } from "./output.js";

type Role = "admin" | "provisioner" | "auditor";

/** A token as GET /v1/tokens lists it (never its secret). */
interface Token {
  id: string;
  name: string;
  role: Role;
  clusters: string[];
  trustDomains: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface TokenCreateOptions extends DualModeOptions {
  name: string;
  role: Role;
  cluster?: string[];
  trustDomain?: string[];
  expiresIn?: number;
  output?: string;
}

/**
 * `meshroot token create`: creates a token (in the database, or through POST /v1/tokens when a
 * server is named) and prints its secret on stdout, or with --output json the token record with
 * the secret under `token`. The secret is shown once.
 */
export async function tokenCreateCommand(opts: TokenCreateOptions): Promise<void> {
  if (modeOf(opts) === "client") {
    const client = clientFromOptions(opts);
    const created = await client.post<Token & { token: string }>("v1/tokens", {
      json: {
        name: opts.name,
        role: opts.role,
        ...(opts.cluster ? { clusters: opts.cluster } : {}),
        ...(opts.trustDomain ? { trustDomains: opts.trustDomain } : {}),
        ...(opts.expiresIn ? { expiresAt: new Date(Date.now() + opts.expiresIn * DAY_MS).toISOString() } : {}),
      },
    });
    printCreated(created, opts.output, ` on ${client.config.url.origin}`);
    return;
  }
  const runtime = await openRuntime(parseConfig(), stderrNotice);
  try {
    const { record, secret } = await runtime.core.tokens.create({
      name: opts.name,
      role: opts.role,
      clusterPatterns: opts.cluster,
      trustDomains: opts.trustDomain,
      expiresAt: opts.expiresIn ? new Date(runtime.clock.now().getTime() + opts.expiresIn * DAY_MS) : undefined,
    }, systemContext("cli token create"));
    printCreated({ ...tokenView(record), trustDomains: record.trustDomains, token: secret }, opts.output, "");
  } finally {
    runtime.close();
  }
}

function printCreated(created: Token & { token: string }, output: string | undefined, where: string): void {
  stderrNotice("info", `created token ${created.id} (${created.role})${where}; the secret follows on stdout and is not shown again`);
  if (output === "json") emit("json", created, () => "");
  else process.stdout.write(`${created.token}\n`);
}

/** `meshroot token list`: every token (GET /v1/tokens, all pages), never a secret. */
export async function tokenListCommand(opts: ClientOptions & { output?: string }): Promise<void> {
  const tokens = await allPages<Token>(clientFromOptions(opts), "v1/tokens");
  emit(opts.output, tokens, (list) =>
    table(
      ["ID", "NAME", "ROLE", "SCOPE", "CREATED", "EXPIRES", "LAST USED", "REVOKED"],
      list.map((t) => [t.id, t.name, t.role, scope(t), t.createdAt, t.expiresAt, t.lastUsedAt, t.revokedAt]),
      "no tokens",
    ),
  );
}

/** `meshroot token revoke <id>`: DELETE /v1/tokens/{id}; prints the revoked token. */
export async function tokenRevokeCommand(id: string, opts: ClientOptions & { output?: string }): Promise<void> {
  const token = await clientFromOptions(opts).delete<Token>(`v1/tokens/${encodeURIComponent(id)}`);
  emit(opts.output, token, (t) => `revoked token ${t.id}\n${fields([["name", t.name], ["role", t.role], ["revoked at", t.revokedAt]])}`);
}

function scope(t: Token): string {
  if (t.role !== "provisioner") return "all";
  const clusters = t.clusters.length ? t.clusters.join(",") : "*";
  const domains = t.trustDomains.length ? t.trustDomains.join(",") : "(none)";
  return `clusters ${clusters} in ${domains}`;
}
