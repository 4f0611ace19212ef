import { randomUUID } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { packageRoot } from "../../package-root.js";

/**
 * Dev only (tests run the TypeScript sources): a worker thread cannot load a .ts module, so its
 * entry is bundled into one ES module file, once per process (under vitest, once per test file:
 * it loads modules afresh for each). The file goes under the project's node_modules/.cache so
 * that its bare imports (better-sqlite3, kept external for its native addon) resolve through the
 * project's node_modules.
 */
const built = new Map<string, Promise<URL>>();

export function workerFromSources(entry: URL): Promise<URL> {
  let url = built.get(entry.href);
  if (!url) {
    url = bundle(fileURLToPath(entry));
    built.set(entry.href, url);
  }
  return url;
}

async function bundle(entry: string): Promise<URL> {
  const { build } = await import("esbuild");
  const dir = join(packageRoot(), "node_modules", ".cache", "meshroot");
  const file = join(dir, basename(entry).replace(/\.ts$/, ".mjs"));
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["better-sqlite3"],
    // Bundled CommonJS code calls require(); give the ES module one.
    banner: { js: "import { createRequire as __meshrootRequire } from 'node:module'; const require = __meshrootRequire(import.meta.url);" },
    write: false,
    logLevel: "warning",
  });
  // Test files run in parallel (processes or threads) that all bundle the same worker: write
  // aside and rename, so that none ever loads a half-written file.
  mkdirSync(dir, { recursive: true });
  const temp = `${file}.${randomUUID()}.tmp`;
  writeFileSync(temp, out.outputFiles[0]!.contents);
  renameSync(temp, file);
  return pathToFileURL(file);
}
