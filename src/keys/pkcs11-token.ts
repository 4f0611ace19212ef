import { createRequire } from "node:module";
import type * as Pkcs11js from "pkcs11js";
import { DomainError } from "../errors.js";

/**
 * One PKCS#11 token, by label, through one logged-in session that every operation reuses, one at
 * a time (a PKCS#11 session runs one operation at a time). When the token fails (removed, the
 * module lost its state) the module is re-initialised and the session re-opened once, then the
 * operation is retried; while that fails, operations throw `hsm_unavailable` and the next one
 * tries again, so service resumes when the token is back.
 */
export type P11 = typeof Pkcs11js;
export type Handle = Buffer;

export interface Pkcs11Settings {
  module: string;
  token: string;
  pin: string;
  /** Names of the settings, for the messages that tell the operator what to fix. */
  names?: { module: string; token: string; pin: string } | undefined;
}

export interface Session {
  p: Pkcs11js.PKCS11;
  handle: Handle;
  slot: Handle;
  /** Changes whenever the module is re-initialised: object handles of an older epoch are void. */
  epoch: number;
}

export interface Pkcs11Token {
  readonly label: string;
  readonly lib: P11;
  /** Runs `op` with the logged-in session, after every earlier operation; throws `hsm_unavailable` when the token cannot be reached. */
  run<T>(op: (s: Session) => T | Promise<T>): Promise<T>;
  /** Whether the last operation reached the token (readiness). */
  healthy(): boolean;
  close(): void;
}

const DEFAULT_NAMES = { module: "MESHROOT_PKCS11_MODULE", token: "MESHROOT_PKCS11_TOKEN", pin: "MESHROOT_PKCS11_PIN" };

/** Errors about the request itself (mechanism, template, key use): retrying on a new session would not help. */
const REQUEST_ERRORS = [
  "CKR_ATTRIBUTE_SENSITIVE",
  "CKR_ATTRIBUTE_TYPE_INVALID",
  "CKR_ATTRIBUTE_VALUE_INVALID",
  "CKR_ATTRIBUTE_READ_ONLY",
  "CKR_TEMPLATE_INCOMPLETE",
  "CKR_TEMPLATE_INCONSISTENT",
  "CKR_MECHANISM_INVALID",
  "CKR_MECHANISM_PARAM_INVALID",
  "CKR_KEY_TYPE_INCONSISTENT",
  "CKR_KEY_SIZE_RANGE",
  "CKR_KEY_FUNCTION_NOT_PERMITTED",
  "CKR_DOMAIN_PARAMS_INVALID",
  "CKR_CURVE_NOT_SUPPORTED",
  "CKR_DATA_LEN_RANGE",
];
const PIN_ERRORS = ["CKR_PIN_INCORRECT", "CKR_PIN_LOCKED", "CKR_PIN_EXPIRED", "CKR_PIN_INVALID", "CKR_PIN_LEN_RANGE"];

interface LoadedModule {
  p: Pkcs11js.PKCS11;
  epoch: number;
  /** Serialises every operation on the module: a re-initialisation must not overlap a signature. */
  queue: Promise<unknown>;
}

/** One instance per module path in a process: C_Initialize is process-wide. */
const modules = new Map<string, LoadedModule>();
let binding: P11 | undefined;

/** The pkcs11js binding, loaded on first use (a native addon: only a meshroot that uses an HSM loads it). */
export function pkcs11Binding(): P11 {
  binding ??= createRequire(import.meta.url)("pkcs11js") as P11;
  return binding;
}

/** The PKCS#11 error name of `err` (CKR_…), if it is one. */
export function ckr(err: unknown): string | undefined {
  const m = /^(CKR_[A-Z_]+)/.exec((err as Error | undefined)?.message ?? "");
  return m?.[1];
}

/** Codes an operation throws that a fresh session may cure: a key not found may be a token that came back (its objects are invisible until the module is re-initialised). */
const RETRIED = ["hsm_unavailable", "key_unavailable", "hsm_key_not_found"];

/** True for errors that concern the request, not the token's availability: no retry. */
export function isRequestError(err: unknown): boolean {
  if (err instanceof DomainError) return !RETRIED.includes(err.code);
  return REQUEST_ERRORS.includes(ckr(err) ?? "");
}

function loadModule(path: string, names: typeof DEFAULT_NAMES): LoadedModule {
  let mod = modules.get(path);
  if (mod) return mod;
  const lib = pkcs11Binding();
  const p = new lib.PKCS11();
  try {
    p.load(path);
  } catch (err) {
    throw new DomainError("config_invalid", `${names.module} ${path} cannot be loaded as a PKCS#11 module: ${(err as Error).message}`);
  }
  initialize(p, lib);
  mod = { p, epoch: 1, queue: Promise.resolve() };
  modules.set(path, mod);
  return mod;
}

function initialize(p: Pkcs11js.PKCS11, lib: P11): void {
  try {
    // OS locking: signatures run on libuv's worker threads (C_SignAsync).
    p.C_Initialize({ flags: lib.CKF_OS_LOCKING_OK });
  } catch (err) {
    if (ckr(err) !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") throw err;
  }
}

/** The labels of the tokens present, trimmed. */
function tokenLabels(p: Pkcs11js.PKCS11): { slot: Handle; label: string }[] {
  return p.C_GetSlotList(true).map((slot) => ({ slot, label: p.C_GetTokenInfo(slot).label.trim() }));
}

/**
 * Loads the module, finds the token by label, opens a session and logs in: what `serve` does at
 * start. Throws `config_invalid` naming the setting to fix (module not loadable, no such token,
 * wrong PIN).
 */
export function openPkcs11Token(settings: Pkcs11Settings): Pkcs11Token {
  const names = settings.names ?? DEFAULT_NAMES;
  const lib = pkcs11Binding();
  const mod = loadModule(settings.module, names);
  let session: Session | undefined;
  let ok = true;

  function connect(atStart: boolean): Session {
    const fail = (message: string) =>
      atStart ? new DomainError("config_invalid", message) : new DomainError("hsm_unavailable", `token ${JSON.stringify(settings.token)} is unavailable: ${message}`);
    const { p } = mod;
    let slots: { slot: Handle; label: string }[];
    try {
      slots = tokenLabels(p);
    } catch (err) {
      throw fail(`the PKCS#11 module ${settings.module} cannot list its tokens: ${ckr(err) ?? (err as Error).message}`);
    }
    const found = slots.find((s) => s.label === settings.token);
    if (!found) {
      const present = slots.map((s) => JSON.stringify(s.label)).join(", ") || "none";
      throw fail(`no token labelled ${JSON.stringify(settings.token)} (${names.token}) is present in ${settings.module}; tokens present: ${present}`);
    }
    let handle: Handle;
    try {
      handle = p.C_OpenSession(found.slot, lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION);
    } catch (err) {
      throw fail(`token ${JSON.stringify(settings.token)} refused a session: ${ckr(err) ?? (err as Error).message}`);
    }
    try {
      p.C_Login(handle, lib.CKU_USER, settings.pin);
    } catch (err) {
      const code = ckr(err);
      if (code !== "CKR_USER_ALREADY_LOGGED_IN") {
        try {
          p.C_CloseSession(handle);
        } catch {
          /* already gone */
        }
        if (PIN_ERRORS.includes(code ?? "")) {
          throw fail(`the PIN in ${names.pin} was refused by token ${JSON.stringify(settings.token)} (${code}); fix ${names.pin} (a few more wrong tries may lock the token)`);
        }
        throw fail(`login to token ${JSON.stringify(settings.token)} failed: ${code ?? (err as Error).message}`);
      }
    }
    return { p, handle, slot: found.slot, epoch: mod.epoch };
  }

  function reinitialize(): void {
    session = undefined;
    try {
      mod.p.C_Finalize();
    } catch {
      /* not initialised, or already lost */
    }
    mod.epoch++;
    try {
      initialize(mod.p, lib);
    } catch (err) {
      throw new DomainError("hsm_unavailable", `token ${JSON.stringify(settings.token)} is unavailable: the PKCS#11 module ${settings.module} cannot be initialised (${ckr(err) ?? (err as Error).message})`);
    }
  }

  function current(): Session {
    if (session && session.epoch === mod.epoch) return session;
    session = connect(false);
    return session;
  }

  session = connect(true);

  async function attempt<T>(op: (s: Session) => T | Promise<T>): Promise<T> {
    try {
      const result = await op(current());
      ok = true;
      return result;
    } catch (first) {
      if (isRequestError(first)) throw first;
      // The token may be gone, or back after being gone: start over once.
      try {
        reinitialize();
        const result = await op(current());
        ok = true;
        return result;
      } catch (err) {
        if (err instanceof DomainError && err.code !== "hsm_unavailable") {
          ok = true;
          throw err;
        }
        if (isRequestError(err)) throw err;
        ok = false;
        session = undefined;
        if (err instanceof DomainError) throw err;
        throw new DomainError("hsm_unavailable", `token ${JSON.stringify(settings.token)} is unavailable: ${ckr(err) ?? (err as Error).message}`);
      }
    }
  }

  return {
    label: settings.token,
    lib,
    run<T>(op: (s: Session) => T | Promise<T>): Promise<T> {
      const next = mod.queue.then(() => attempt(op));
      mod.queue = next.catch(() => undefined);
      return next;
    },
    healthy: () => ok,
    close() {
      const s = session;
      session = undefined;
      if (!s || s.epoch !== mod.epoch) return;
      try {
        s.p.C_CloseSession(s.handle);
      } catch {
        /* gone already */
      }
    },
  };
}
