import { parseExpectedHead } from "../core/audit-checkpoint.js";
import { parseConfig } from "../config.js";
import { DomainError } from "../errors.js";
import { openRuntime } from "../runtime.js";
import { stderrNotice } from "./notice.js";

/**
 * `meshroot audit verify [--expect-head <seq>:<hash>]`: recomputes the hash chain, checks it
 * against the newest signed checkpoint (and the head an operator recorded, when given), and
 * cross-checks that every token and intermediate has its creation event. Prints the verdict;
 * exit 1 when anything fails.
 */
export async function auditVerifyCommand(options: { expectHead?: string | undefined } = {}): Promise<void> {
  const expectHead = options.expectHead === undefined ? undefined : parseExpectedHead(options.expectHead);
  if (options.expectHead !== undefined && !expectHead) {
    throw new DomainError("config_invalid", `--expect-head must be <seq>:<hash> (the hash as 64 lowercase hex digits), got ${options.expectHead}`);
  }
  const runtime = await openRuntime(parseConfig(), stderrNotice);
  try {
    const verdict = await runtime.core.audit.verify({ expectHead });
    process.stdout.write(`${JSON.stringify(verdict, null, 2)}\n`);
    if (verdict.chainOk) {
      stderrNotice("info", `audit chain intact: ${verdict.events} events, last hash ${verdict.lastHash}`);
    } else {
      stderrNotice("warn", `audit chain BROKEN at seq ${verdict.firstBroken!.seq}: ${verdict.firstBroken!.reason}`);
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
  } finally {
    runtime.close();
  }
}
