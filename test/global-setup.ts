import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Unit and HTTP tests run from the TypeScript sources; only the end-to-end tests start the built
 * CLI (dist/meshroot.js). Build it here when it is missing or older than any source it is made
 * from, so that a stale dist/ is never tested by accident and `vitest` works on a clean checkout.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

export default function setup(): void {
  const cli = join(root, "dist", "meshroot.js");
  const sources = ["src", "scripts", "migrations", "ui", "package.json", "tsconfig.json"].map((p) => join(root, p));
  if (existsSync(cli) && statSync(cli).mtimeMs >= Math.max(...sources.map(newest))) return;
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
}
