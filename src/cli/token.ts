import { systemContext } from "../core/audit.js";
import { DAY_MS } from "../clock.js";
import { parseConfig } from "../config.js";
import { openRuntime } from "../runtime.js";
import { stderrNotice } from "./notice.js";

/** `meshroot token create`: creates a token in the database and prints its secret on stdout. */
export async function tokenCreateCommand(opts: {
  name: string;
  role: "admin" | "provisioner" | "auditor";
  cluster?: string[];
  trustDomain?: string[];
  expiresIn?: number;
}): Promise<void> {
  const runtime = await openRuntime(parseConfig(), stderrNotice);
  try {
    const { record, secret } = await runtime.core.tokens.create({
      name: opts.name,
      role: opts.role,
      clusterPatterns: opts.cluster,
      trustDomains: opts.trustDomain,
      expiresAt: opts.expiresIn ? new Date(runtime.clock.now().getTime() + opts.expiresIn * DAY_MS) : undefined,
    }, systemContext("cli token create"));
    stderrNotice("info", `created token ${record.id} (${record.role}); the secret follows on stdout and is not shown again`);
    process.stdout.write(`${secret}\n`);
  } finally {
    runtime.close();
  }
}
