import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// Bundles the dashboard (ui/src/main.tsx and its CSS) into dist/ui: one script and one style
// sheet named by their content hash (served as immutable), and index.html that links them.
// Nothing is inlined, so the strict Content-Security-Policy of src/http/ui.ts holds.

const dist = join(dirname(fileURLToPath(import.meta.url)), "..");
const root = join(dist, "..");
const out = join(dist, "ui");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await build({
  entryPoints: { app: join(root, "ui/src/main.tsx") },
  outdir: out,
  entryNames: "[name]-[hash]",
  bundle: true,
  platform: "browser",
  format: "esm",
  target: ["chrome111", "firefox111", "safari16.4"],
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  metafile: true,
  legalComments: "eof",
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const script = outputs.find((n) => n.endsWith(".js"));
const style = outputs.find((n) => n.endsWith(".css"));
if (!script || !style) throw new Error(`the dashboard bundle lacks a script or a style sheet: ${outputs.join(", ")}`);
const html = readFileSync(join(root, "ui/index.html"), "utf8").replace("%SCRIPT%", `/ui/${script}`).replace("%STYLE%", `/ui/${style}`);
writeFileSync(join(out, "index.html"), html);
writeFileSync(join(out, "favicon.svg"), readFileSync(join(root, "ui/favicon.svg")));
