import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { client, startServer } from "./server.js";

describe("MESHROOT_ROTATION_SCHEDULE", () => {
  it("rotates due clusters in-process on the cron schedule", async () => {
    const dataDir = join(tempDir(), "data");
    const server = await startServer({ MESHROOT_DATA_DIR: dataDir, MESHROOT_ROTATION_SCHEDULE: "* * * * * *", MESHROOT_LOG_LEVEL: "info" });
    try {
      const admin = client(server.url, readFileSync(join(dataDir, "admin.token"), "utf8").trim());
      await admin("POST", "/v1/trust-domains", { name: "cluster.local" });
      await admin("POST", "/v1/clusters", { name: "east", trustDomain: "cluster.local" });
      const first = (await admin("POST", "/v1/clusters/east/intermediates", {})).json().intermediate;
      // A revoked cluster is due at once; the next tick of the schedule replaces its intermediate.
      await admin("POST", `/v1/certificates/${first.serial}/revoke`, { reason: "keyCompromise" });
      let status = "revoked";
      for (let i = 0; i < 50 && status !== "active"; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await admin("GET", "/v1/clusters/east")).json().status;
      }
      expect(status).toBe("active");
      const cluster = (await admin("GET", "/v1/clusters/east")).json();
      expect(cluster.activeIntermediate.generation).toBe(2);
      expect(server.stdout()).toContain("scheduled rotation: 1 rotated");
    } finally {
      await server.stop();
    }
  });
});
