import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// Bundles the compiled CLI (dist/src/cli/main.js) into one file, dist/meshroot.js: resolving and
// compiling ~400 small modules was most of the start-up time. Packages that read their own files
// at run time stay external: better-sqlite3 (its native addon) and @fastify/swagger-ui (static assets).

const dist = join(dirname(fileURLToPath(import.meta.url)), "..");
await build({
  // The worker threads' modules are more entries: workers load them as files next to the bundle.
  entryPoints: {
    meshroot: join(dist, "src/cli/main.js"),
    "audit-verify-worker": join(dist, "src/store/sqlite/audit-verify-worker.js"),
    "issuance-writer-worker": join(dist, "src/store/sqlite/issuance-writer-worker.js"),
  },
  outdir: dist,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3", "@fastify/swagger-ui"],
  // Bundled CommonJS packages call require(); give the ES module one.
  banner: { js: "import { createRequire as __meshrootRequire } from 'node:module'; const require = __meshrootRequire(import.meta.url);" },
  sourcemap: "linked",
  logLevel: "warning",
});
