import { describe, expect, it } from "vitest";
import { auditText } from "../../src/http/audit-context.js";
import { testApp, TEST_CTX } from "../helpers.js";

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

describe("unauthenticated input in audit fields is bounded and has no control characters", () => {
  it("a refused request's cluster name from the path", async () => {
    const t = await testApp();
    const name = "a%0Ab%1B[31m%00".repeat(15);
    const res = await t.app.inject({ url: `/v1/clusters/${name}/cacerts` });
    expect(res.statusCode).toBe(401);
    const [event] = await t.core.audit.list({ action: "request.denied" }, { limit: 1 });
    expect(event!.cluster).not.toBeNull();
    expect(event!.cluster!.length).toBeLessThanOrEqual(63);
    expect(event!.cluster).not.toMatch(CONTROL);
    expect(event!.cluster!.startsWith("a\ufffdb")).toBe(true);
  });

  it("token names: printable and at most 100 characters (the CLI takes any string)", async () => {
    const t = await testApp();
    for (const name of ["line\nbreak", "esc\u001b[2J", "x".repeat(101), ""]) {
      await expect(t.core.tokens.create({ name, role: "auditor" }, TEST_CTX)).rejects.toMatchObject({ code: "validation_failed" });
    }
  });

  it("auditText strips control characters and bounds length", () => {
    expect(auditText("a\r\nb\u0000c\u2028")).toBe("a\ufffd\ufffdb\ufffdc\ufffd");
    expect(auditText("x".repeat(1000)).length).toBe(200);
    expect(auditText("x".repeat(10), 5)).toBe("xxxx…");
  });
});
