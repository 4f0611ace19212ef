import { parseExpectedHead } from "../core/audit-checkpoint.js";
import { parseConfig } from "../config.js";
import { openRuntime } from "../runtime.js";
import { clientFromOptions, UsageError, type ClientOptions } from "./client.js";
import { modeOf, type DualModeOptions } from "./mode.js";
import { stderrNotice } from "./notice.js";
import { query } from "./output.js";

/** The verdict both modes print: what core.audit.verify returns, as GET /v1/audit/verify answers it. */
interface Verdict {
  ok: boolean;
  chainOk: boolean;
  events: number;
  lastHash: string;
  firstBroken: { seq: number; reason: string } | null;
  checkpoint: { status: string; checkpoint: { seq: number; at: string } | null; eventsAfter: number; reason: string | null };
  missingCreationEvents: { kind: string; id: string }[];
  expectedHead: { ok: boolean; reason: string | null } | null;
}

/**
 * `meshroot audit verify [--expect-head <seq>:<hash>]`: recomputes the hash chain, checks it
 * against the newest signed checkpoint (and the head an operator recorded, when given), and
 * cross-checks that every token and intermediate has its creation event — in the database, or
 * through GET /v1/audit/verify when a server is named. Prints the verdict as JSON and a summary
 * on stderr; exit 1 when anything fails. Throws UsageError for a malformed --expect-head.
 */
export async function auditVerifyCommand(options: DualModeOptions & { expectHead?: string | undefined } = {}): Promise<void> {
  const expectHead = options.expectHead === undefined ? undefined : parseExpectedHead(options.expectHead);
  if (options.expectHead !== undefined && !expectHead) {
    throw new UsageError(`--expect-head must be <seq>:<hash> (the hash as 64 lowercase hex digits), got ${options.expectHead}`);
  }
  if (modeOf(options) === "client") {
    const client = clientFromOptions(options);
    report(await client.get<Verdict>(`v1/audit/verify${query({ expectHead: options.expectHead })}`), ` (${client.config.url.origin})`);
    return;
  }
  const runtime = await openRuntime(parseConfig(), stderrNotice);
  try {
    report(await runtime.core.audit.verify({ expectHead }), "");
  } finally {
    runtime.close();
  }
}

function report(verdict: Verdict, where: string): void {
  process.stdout.write(`${JSON.stringify(verdict, null, 2)}\n`);
  if (verdict.chainOk) {
    stderrNotice("info", `audit chain intact${where}: ${verdict.events} events, last hash ${verdict.lastHash}`);
  } else {
    stderrNotice("warn", `audit chain BROKEN at seq ${verdict.firstBroken!.seq}${where}: ${verdict.firstBroken!.reason}`);
  }
  const cp = verdict.checkpoint;
  if (cp.status === "ok") stderrNotice("info", `checkpoint of ${cp.checkpoint!.at} at seq ${cp.checkpoint!.seq} holds; ${cp.eventsAfter} events since`);
  else if (cp.status === "none") stderrNotice("warn", "no audit checkpoint yet: the end of the trail is not anchored");
  else stderrNotice("warn", `audit checkpoint ${cp.status.toUpperCase()}: ${cp.reason}`);
  if (verdict.missingCreationEvents.length > 0) {
    const list = verdict.missingCreationEvents.map((m) => `${m.kind} ${m.id}`).join(", ");
    stderrNotice("warn", `${verdict.missingCreationEvents.length} rows have no creation event in the trail: ${list}`);
  }
  if (verdict.expectedHead && !verdict.expectedHead.ok) stderrNotice("warn", `expected head MISMATCH: ${verdict.expectedHead.reason}`);
  if (!verdict.ok) process.exitCode = 1;
}

export interface AuditExportOptions extends ClientOptions {
  action?: string;
  actor?: string;
  cluster?: string;
  trustDomain?: string;
  outcome?: string;
  since?: string;
  until?: string;
}

/** `meshroot audit export`: the matching events as NDJSON, oldest first (GET /v1/audit/export), on stdout. */
export async function auditExportCommand(opts: AuditExportOptions): Promise<void> {
  const client = clientFromOptions(opts);
  const { action, actor, cluster, trustDomain, outcome, since, until } = opts;
  const res = await client.request("GET", `v1/audit/export${query({ action, actor, cluster, trustDomain, outcome, since, until })}`);
  process.stdout.write(res.text);
}
