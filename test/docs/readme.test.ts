import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { CLI, client, startServer, type Server } from "../e2e/server.js";
import { readmeBlocks, type ReadmeBlock } from "./readme-blocks.js";

// The README's walk-through, run top to bottom as a newcomer would type it: every marked ```sh block
// in order, in one shell session (variables and the working directory carry over from block to
// block), against one real `meshroot serve` whose data directory is the "clone's" ./data, as
// `npm start` makes it. `npm link` puts the built CLI on PATH; `kubectl` is a fake that checks and
// records every manifest (test/docs/fake-kubectl.mjs). The README's http://127.0.0.1:8080 is
// replaced by the test server's address (it listens on a free port).

const root = fileURLToPath(new URL("../../", import.meta.url));
const blocks = readmeBlocks(readFileSync(join(root, "README.md"), "utf8"));

/** A block is killed after this long (a loaded CI machine runs a few dozen CLI calls in it). */
const BLOCK_TIMEOUT_MS = 90_000;

/** Runs before each block: the previous block's variables and directory, then saves them on success. */
const PROLOGUE = String.raw`set -euo pipefail
__state_out=$1
[ ! -f "$2" ] || source "$2"
__save() {
  local v d flags
  for v in $(compgen -v); do
    case $v in BASH*|COMP*|FUNCNAME|GROUPS|DIRSTACK|PIPESTATUS|HISTCMD|LINENO|RANDOM|SRANDOM|SECONDS|EPOCH*|IFS|OPT*|PS?|PATH|HOME|PWD|OLDPWD|SHLVL|_|__*) continue ;; esac
    d=$(declare -p "$v" 2>/dev/null) || continue
    flags=\${d#declare -}; flags=\${flags%% *}
    [[ $flags == *r* ]] || printf '%s\n' "$d"
  done
  printf 'cd %q\n' "$PWD"
}
trap '__rc=$?; [ "$__rc" -ne 0 ] || __save > "$__state_out"' EXIT
`.replaceAll("\\$", "$");

function sh(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

function runBash(script: string, args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", [script, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), BLOCK_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("README.md, run top to bottom", () => {
  let server: Server;
  let dir: string;
  let clone: string;
  let bin: string;
  let kube: string;
  let noKube: string;
  let kubeState: string;
  let failed: string | undefined;
  let step = 0;

  beforeAll(async () => {
    dir = tempDir("meshroot-readme-");
    clone = join(dir, "meshroot");
    bin = join(dir, "bin");
    kube = join(dir, "kube");
    noKube = join(dir, "no-kube");
    kubeState = join(dir, "kube-state");
    for (const d of [clone, bin, kube, noKube, kubeState, join(dir, "home"), join(dir, "tmp")]) mkdirSync(d, { recursive: true });
    copyFileSync(join(root, "package.json"), join(clone, "package.json"));
    // `npm link` in the clone links the package's bin onto PATH; nothing else of npm runs here.
    sh(
      join(bin, "npm"),
      `#!/bin/sh
if [ "$*" = link ] && grep -q '"name": "meshroot"' package.json 2>/dev/null; then
  ln -sf '${CLI}' '${join(bin, "meshroot")}' && echo 'added 1 package (README test: meshroot linked)'
else
  echo "npm $* is not run by the README test (only npm link, in the clone)" >&2; exit 1
fi
`,
    );
    sh(join(kube, "kubectl"), `#!/bin/sh\nexec '${process.execPath}' '${join(root, "test/docs/fake-kubectl.mjs")}' "$@"\n`);
    sh(join(noKube, "kubectl"), `#!/bin/sh\necho "kubectl in a block not marked <!-- readme-test: kubernetes -->" >&2; exit 1\n`);
    // As `npm start` in the clone: development mode, data in ./data, here on a free port.
    server = await startServer({ MESHROOT_DATA_DIR: join(clone, "data") });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("marks a walk-through: blocks from the quick start to fleet state, with Kubernetes steps marked apart", () => {
    const headings = new Set(blocks.map((b) => b.heading));
    for (const h of ["## Quick start", "## How a pipeline uses meshroot, end to end", "## Rotate on a schedule", "## Revocation and CRLs", "## Fleet state"]) expect(headings, h).toContain(h);
    expect(blocks.some((b) => b.kind === "kubernetes")).toBe(true);
  });

  for (const block of blocks) {
    const notes = [block.kind === "kubernetes" ? "Kubernetes steps checked" : "", block.retried ? "run twice, as a retried CI job" : ""].filter(Boolean);
    it(`${block.heading} (README.md:${block.line}${notes.map((n) => `, ${n}`).join("")})`, async (ctx) => {
      if (failed) ctx.skip(`an earlier block failed: ${failed}`);
      await runBlock(block);
      if (block.retried) await runBlock(block, " (run again)");
    }, 2 * BLOCK_TIMEOUT_MS + 10_000);
  }

  it("applied cacerts Secrets that openssl verifies, for the quick start's cluster and the pipeline's", (ctx) => {
    if (failed) ctx.skip(`an earlier block failed: ${failed}`);
    const applied = readFileSync(join(kubeState, "applied.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { context: string; kind: string; name: string; namespace: string; keys: string[] });
    const cacerts = applied.filter((a) => a.kind === "Secret" && a.name === "cacerts");
    expect([...new Set(cacerts.map((a) => a.context))]).toEqual(expect.arrayContaining(["east", "prod-eu-1"]));
    for (const a of cacerts) expect(a.keys).toEqual(expect.arrayContaining(["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]));
    // After the revocation, east's Secret was refreshed with ca-crl.pem.
    expect(cacerts.filter((a) => a.context === "east").at(-1)!.keys).toContain("ca-crl.pem");
  });

  it("retried pipeline jobs (the CLI's and curl's, with one CI_PIPELINE_ID) issued one intermediate; west is revoked", async (ctx) => {
    if (failed) ctx.skip(`an earlier block failed: ${failed}`);
    const api = client(server.url, readFileSync(join(clone, "data", "admin.token"), "utf8").trim());
    const issued = (await api("GET", "/v1/certificates?cluster=prod-eu-1")).json() as { items: { generation: number }[] };
    expect(issued.items.map((i) => i.generation)).toEqual([1]);
    expect((await api("GET", "/v1/clusters/west")).json()).toMatchObject({ status: "revoked" });
    expect((await api("GET", "/v1/clusters/prod-eu-2")).json()).toMatchObject({ status: "active", activeIntermediate: { custody: "external" } });
  });

  async function runBlock(block: ReadmeBlock, again = ""): Promise<void> {
    const where = `README.md:${block.line} (${block.heading})${again}`;
    const n = String(++step).padStart(2, "0");
    const script = join(dir, `block-${n}.sh`);
    writeFileSync(script, `${PROLOGUE}# ${where}\n${block.code.replaceAll("http://127.0.0.1:8080", server.url)}\n`);
    const stateIn = join(dir, `state-${String(step - 1).padStart(2, "0")}.sh`);
    const stateOut = join(dir, `state-${n}.sh`);
    const env = {
      PATH: [bin, block.kind === "kubernetes" ? kube : noKube, dirname(process.execPath), process.env.PATH].join(":"),
      HOME: join(dir, "home"),
      TMPDIR: join(dir, "tmp"),
      LANG: "C.UTF-8",
      FAKE_KUBE_DIR: kubeState,
    };
    const r = await runBash(script, [stateOut, stateIn], existsSync(stateIn) ? dir : clone, env);
    if (r.code !== 0 || !existsSync(stateOut)) {
      failed = where;
      throw new Error(`the block at ${where} failed (${r.code === null ? `killed after ${BLOCK_TIMEOUT_MS / 1000} s` : `exit ${r.code}`}):\n--- stderr\n${r.stderr}\n--- stdout\n${r.stdout.slice(-4000)}\n--- server\n${server.stderr().slice(-2000)}`);
    }
  }
});

describe("readmeBlocks", () => {
  const md = (...lines: string[]) => lines.join("\n");
  it("takes marked ```sh blocks in order with their heading and line, and leaves the others", () => {
    const text = md("# T", "```sh", "npm start", "```", "## A", "<!-- readme-test -->", "", "```sh", "echo a", "```", "## B", "<!-- readme-test: kubernetes, retried -->", "```sh", "kubectl apply -f x", "# not a heading", "```");
    expect(readmeBlocks(text)).toEqual([
      { kind: "run", retried: false, heading: "## A", line: 8, code: "echo a" },
      { kind: "kubernetes", retried: true, heading: "## B", line: 13, code: "kubectl apply -f x\n# not a heading" },
    ]);
  });
  it("refuses a marker that would be dropped", () => {
    expect(() => readmeBlocks(md("<!-- readme-test -->", "text", "```sh", "x", "```"))).toThrow("README.md:1: the marker must come right before");
    expect(() => readmeBlocks(md("<!-- readme-test -->", "```yaml", "x", "```"))).toThrow("not ```sh");
    expect(() => readmeBlocks(md("<!-- readme-test: kube -->", "```sh", "x", "```"))).toThrow("README.md:1: not a readme-test marker");
    expect(() => readmeBlocks(md("<!-- readme-test -->", "## next"))).toThrow("marker without");
  });
});
