import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../dist/meshroot.js", import.meta.url));

export interface Server {
  url: string;
  proc: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the built `meshroot serve` on a free loopback port with the given environment and waits
 * until it says where it listens. Run `npm run build` first (`npm test` does).
 */
export async function startServer(env: Record<string, string>, timeoutMs = 20_000): Promise<Server> {
  const proc = spawn(process.execPath, [CLI, "serve"], {
    env: { PATH: process.env.PATH, MESHROOT_PORT: "0", MESHROOT_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  let out = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`meshroot did not start in ${timeoutMs} ms:\n${err}`)), timeoutMs);
    const poll = setInterval(() => {
      const m = /listening on (https?:\/\/[^\s]+) /.exec(err);
      if (m) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve(m[1]!);
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`meshroot exited with ${code} before listening:\n${err}`));
    });
  });
  return {
    url,
    proc,
    stderr: () => err,
    stdout: () => out,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** A small fetch wrapper for JSON APIs with a bearer token. */
export function client(base: string, token?: string) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
  };
}
