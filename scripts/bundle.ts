import { build, type Plugin } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// Bundles the compiled CLI (dist/src/cli/main.js) into dist/meshroot.js: resolving and compiling
// ~400 small modules was most of the start-up time. Packages that read their own files at run
// time stay external: better-sqlite3 (its native addon) and @fastify/swagger-ui (static assets).
// What start-up does not need stays out of what it parses: code only a dynamic import reaches (the
// PostgreSQL client, migrate-data) goes to chunks beside it, whitespace and comments are dropped
// (names are kept: stack traces still name functions; meshroot.js.map maps them to the sources),
// and zod keeps only its English messages (the other 40-odd locales were ~0.4 MB of the bundle).

const dist = join(dirname(fileURLToPath(import.meta.url)), "..");

/** zod's `locales` namespace with English alone: meshroot never selects another locale. */
const zodEnglishOnly: Plugin = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer) ? { path: "zod-locales", namespace: "zod-english-only" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-english-only" }, () => ({
      contents: 'export { default as en } from "zod/v4/locales/en.js";',
      resolveDir: dist,
      loader: "js",
    }));
  },
};

// Chunks of earlier builds have other content hashes: remove them so dist holds one build's.
for (const file of readdirSync(dist)) if (/^chunk-.*\.js(\.map)?$/.test(file)) rmSync(join(dist, file));

await build({
  // The worker threads' modules are more entries: workers load them as files next to the bundle.
  entryPoints: {
    meshroot: join(dist, "src/cli/main.js"),
    "audit-verify-worker": join(dist, "src/store/sqlite/audit-verify-worker.js"),
    "issuance-writer-worker": join(dist, "src/store/sqlite/issuance-writer-worker.js"),
  },
  // Chunks sit beside the entries: import.meta.url (workers, the package root) means dist/ in all of them.
  outdir: dist,
  bundle: true,
  splitting: true,
  minifyWhitespace: true,
  minifySyntax: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3", "@fastify/swagger-ui"],
  plugins: [zodEnglishOnly],
  // Bundled CommonJS packages call require(); give the ES module one.
  banner: { js: "import { createRequire as __meshrootRequire } from 'node:module'; const require = __meshrootRequire(import.meta.url);" },
  sourcemap: "linked",
  logLevel: "warning",
});
