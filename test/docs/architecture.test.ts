import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url).pathname;
const page = readFileSync(join(root, "docs/architecture.md"), "utf8");
const tree = page.slice(page.indexOf("```text"), page.indexOf("```", page.indexOf("```text") + 7));

/** Folders under src/ (one level, and store/<backend>). */
function srcFolders(): string[] {
  const top = readdirSync(join(root, "src")).filter((f) => statSync(join(root, "src", f)).isDirectory());
  const backends = readdirSync(join(root, "src/store")).filter((f) => statSync(join(root, "src/store", f)).isDirectory());
  return [...top, ...backends];
}

/** Imports of every .ts file under a folder of src/, as written. */
function importsOf(folder: string): { file: string; spec: string }[] {
  const out: { file: string; spec: string }[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const path = join(dir, f);
      if (statSync(path).isDirectory()) walk(path);
      else if (f.endsWith(".ts")) for (const m of readFileSync(path, "utf8").matchAll(/from "([^"]+)"/g)) out.push({ file: path.slice(root.length), spec: m[1]! });
    }
  };
  walk(join(root, "src", folder));
  return out;
}

describe("docs/architecture.md", () => {
  it("names every folder of src/ in its tree, and every folder it names exists", () => {
    for (const folder of srcFolders()) expect(tree, `src/${folder} is missing from the picture`).toMatch(new RegExp(`\\b${folder}/`));
    for (const m of tree.matchAll(/^ {2,4}(\w+)\/ /gm)) expect(srcFolders(), `the picture names ${m[1]}/`).toContain(m[1]);
  });

  it("holds for the imports: the core has no HTTP, SQL, key custody or storage; x509 imports nothing of meshroot's but errors", () => {
    const core = importsOf("core").filter(({ spec }) => /fastify|better-sqlite3|\/(http|keys|store|cli)\//.test(spec));
    expect(core).toEqual([]);
    const x509 = importsOf("x509").filter(({ spec }) => spec.startsWith("../") && spec !== "../errors.js");
    expect(x509).toEqual([]);
    const adapters = [...importsOf("keys"), ...importsOf("store")].filter(({ spec }) => /\/(http|cli)\/|fastify/.test(spec));
    expect(adapters).toEqual([]);
  });
});
