import { parseConfig } from "../config.js";
import { openRuntime } from "../runtime.js";
import { stderrNotice } from "./notice.js";

/** `meshroot audit verify`: recomputes the hash chain; prints the verdict; exit 1 when broken. */
export async function auditVerifyCommand(): Promise<void> {
  const runtime = await openRuntime(parseConfig(), stderrNotice);
  try {
    const verdict = await runtime.core.audit.verify();
    process.stdout.write(`${JSON.stringify(verdict, null, 2)}\n`);
    if (verdict.ok) {
      stderrNotice("info", `audit chain intact: ${verdict.events} events, last hash ${verdict.lastHash}`);
    } else {
      stderrNotice("warn", `audit chain BROKEN at seq ${verdict.firstBroken!.seq}: ${verdict.firstBroken!.reason}`);
      process.exitCode = 1;
    }
  } finally {
    runtime.close();
  }
}
