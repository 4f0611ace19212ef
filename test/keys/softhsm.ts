import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * SoftHSM2 for the PKCS#11 tests (Debian's `softhsm2`; .ci/run installs it with opensc's
 * pkcs11-tool). Without it the tests are skipped locally with a note, but in CI (CI=true) they
 * fail: a green run must have exercised the token.
 */
const CANDIDATES = ["/usr/lib/softhsm/libsofthsm2.so", ...multiarch()];

function multiarch(): string[] {
  try {
    return readdirSync("/usr/lib")
      .filter((d) => d.includes("-linux-"))
      .map((d) => `/usr/lib/${d}/softhsm/libsofthsm2.so`);
  } catch {
    return [];
  }
}

function onPath(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The SoftHSM2 PKCS#11 module, when installed. */
export const SOFTHSM_MODULE = CANDIDATES.find((p) => existsSync(p));
export const softhsmMissing = SOFTHSM_MODULE === undefined || !onPath("softhsm2-util");
export const skipSofthsm = softhsmMissing && process.env.CI !== "true";
if (skipSofthsm) console.warn("[pkcs11 tests] skipped: SoftHSM2 is not installed (apt-get install softhsm2 opensc)");

export const USER_PIN = "4711-user";
export const SO_PIN = "4711-so-pin";

export interface SoftToken {
  /** Path of libsofthsm2.so. */
  module: string;
  label: string;
  pin: string;
  /** The SOFTHSM2_CONF file of this token's folder. */
  conf: string;
  /** Environment to hand a child process (meshroot serve, pkcs11-tool): SOFTHSM2_CONF. */
  env: Record<string, string>;
  /** Takes the token away (its folder moved aside), as if unplugged. */
  remove(): void;
  /** Puts it back. */
  restore(): void;
  /** Another token in the same folder. */
  addToken(label: string): void;
  /** pkcs11-tool against this token (logged in), returning stdout; throws with stderr on failure. */
  tool(args: string[]): string;
}

/**
 * Initialises a fresh token in a temporary folder with its own SOFTHSM2_CONF, and points this
 * process's SOFTHSM2_CONF at it (SoftHSM reads it when the module is initialised). Throws (so the
 * suite fails) when SoftHSM2 is missing.
 */
export function softToken(label = "meshroot-test"): SoftToken {
  if (softhsmMissing || !SOFTHSM_MODULE) throw new Error("SoftHSM2 is required in CI but missing: .ci/run installs softhsm2 and opensc with apt-get");
  const dir = mkdtempSync(join(tmpdir(), "meshroot-softhsm-"));
  const tokens = join(dir, "tokens");
  mkdirSync(tokens, { mode: 0o700 });
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { SOFTHSM2_CONF: conf };
  process.env.SOFTHSM2_CONF = conf;
  const init = (l: string) =>
    execFileSync("softhsm2-util", ["--init-token", "--free", "--label", l, "--so-pin", SO_PIN, "--pin", USER_PIN], { env: { ...process.env, ...env }, stdio: "pipe" });
  init(label);
  const module = SOFTHSM_MODULE;
  return {
    module,
    label,
    pin: USER_PIN,
    conf,
    env,
    remove: () => renameSync(tokens, `${tokens}.away`),
    restore: () => renameSync(`${tokens}.away`, tokens),
    addToken: (l) => void init(l),
    tool(args) {
      try {
        return execFileSync("pkcs11-tool", ["--module", module, "--token-label", label, "--login", "--pin", USER_PIN, ...args], {
          env: { ...process.env, ...env },
          stdio: "pipe",
          encoding: "utf8",
        });
      } catch (err) {
        const e = err as { stderr?: string; stdout?: string };
        throw new Error(`pkcs11-tool ${args.join(" ")} failed: ${e.stderr ?? ""}${e.stdout ?? ""}`);
      }
    },
  };
}

/** Removes a token's folder (after the test file). */
export function dropToken(token: SoftToken | undefined): void {
  if (token) rmSync(join(token.conf, ".."), { recursive: true, force: true });
}
