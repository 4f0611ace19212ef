import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { client, startServer, type Server } from "./server.js";

const CLUSTERS = ["r0", "r1", "r2", "r3", "r4", "r5"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const base = "/v1/trust-domains/cluster.local/root-rotation";

/**
 * SIGKILL while a root rotation step commits (the switch of every cluster at once, a phase
 * change, a rollback): after a restart the rotation is in one phase or the next, never between,
 * every cluster has exactly one active intermediate under the root its phase says, every
 * cluster's Secret is served, and the audit chain verifies.
 */
describe("root rotation crash safety", () => {
  it("leaves a consistent phase after SIGKILL during each kind of step", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "master.key");
    writeFileSync(keyFile, randomBytes(32).toString("base64"));
    const env = { MESHROOT_DATA_DIR: join(dir, "data"), MESHROOT_MASTER_KEY_FILE: keyFile, MESHROOT_ADMIN_TOKEN: randomBytes(24).toString("hex") };
    let server: Server = await startServer(env);
    const api = () => client(server.url, env.MESHROOT_ADMIN_TOKEN);
    expect((await api()("POST", "/v1/trust-domains", { name: "cluster.local" })).status).toBe(201);
    for (const name of CLUSTERS) {
      expect((await api()("POST", "/v1/clusters", { name, trustDomain: "cluster.local" })).status).toBe(201);
      expect((await api()("POST", `/v1/clusters/${name}/intermediates`, {})).status).toBe(201);
    }
    expect((await api()("POST", base, {})).status).toBe(201);

    /** Consistency after a restart; returns the phase and how many clusters switched. */
    const check = async () => {
      const status = (await api()("GET", base)).json();
      expect(status.history.at(-1).phase).toBe(status.phase);
      const switched = status.clusters.filter((c: { switched: boolean }) => c.switched).length;
      for (const c of status.clusters) {
        expect(c.active, c.name).not.toBeNull();
        // One active per cluster, and its root the one the phase says.
        expect(c.active.root).toBe(c.switched ? "new" : "old");
        if (status.phase === "trust-both" || status.phase === "prepared") expect(c.switched).toBe(false);
        const secret = await api()("GET", `/v1/clusters/${c.name}/cacerts?format=json`);
        expect(secret.status, secret.text).toBe(200);
      }
      const audit = (await api()("GET", "/v1/audit/verify")).json();
      expect(audit.chainOk, JSON.stringify(audit)).toBe(true);
      return { phase: status.phase as string, switched };
    };

    /** Sends one step, kills the server `delay` ms later, restarts it, and returns the state after. */
    const killDuring = async (path: string, body: object, delay: number) => {
      const sent = api()("POST", path, body).catch(() => undefined);
      await sleep(delay);
      await server.stop("SIGKILL");
      await sent;
      server = await startServer(env);
      return check();
    };

    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const outcomes: string[] = [];
    for (let round = 0; round < 4; round++) {
      // prepared → trust-both (a phase change).
      let state = await killDuring(`${base}/advance`, {}, Math.floor(rand() * 15));
      expect(["prepared", "trust-both"]).toContain(state.phase);
      if (state.phase === "prepared") state = { ...state, phase: (await api()("POST", `${base}/advance`, {})).json().rotation.phase };
      // trust-both → sign-new, forced (nobody reports here).
      state = await killDuring(`${base}/advance`, { force: true, reason: "crash test" }, Math.floor(rand() * 15));
      expect(["trust-both", "sign-new"]).toContain(state.phase);
      if (state.phase === "trust-both") expect((await api()("POST", `${base}/advance`, { force: true, reason: "crash test" })).json().movedTo).toBe("sign-new");
      // sign-new: advance switches all six clusters in one transaction: all or none.
      state = await killDuring(`${base}/advance`, {}, Math.floor(rand() * 15));
      expect(state.phase).toBe("sign-new");
      expect([0, CLUSTERS.length]).toContain(state.switched);
      outcomes.push(`switch:${state.switched}`);
      if (state.switched === 0) expect((await api()("POST", `${base}/advance`, {})).json().switched).toHaveLength(CLUSTERS.length);
      // Roll back twice (sign-new → trust-both unswitches all six at once; trust-both → prepared).
      state = await killDuring(`${base}/rollback`, {}, Math.floor(rand() * 15));
      expect([
        ["sign-new", CLUSTERS.length],
        ["trust-both", 0],
      ]).toContainEqual([state.phase, state.switched]);
      if (state.phase === "sign-new") await api()("POST", `${base}/rollback`, {});
      expect((await api()("POST", `${base}/rollback`, {})).json().phase).toBe("prepared");
    }
    await server.stop();
    expect(outcomes.length).toBe(4);
    process.stderr.write(`root rotation crash outcomes: ${outcomes.join(" ")}\n`);
  }, 240_000);
});
