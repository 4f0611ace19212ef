import { describe, expect, it } from "vitest";
import { rootCommonName } from "../../src/x509/profiles.js";
import { cert, openssl, TEST_CTX, testApp, writeFiles } from "../helpers.js";

/** A 253-character trust domain (the schema's maximum): three 63-character labels and one of 61. */
const LONG = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");

describe("root CN of a long trust domain (issue 16, item 15)", () => {
  it("keeps a short name as `<trust domain> Root CA`", () => {
    expect(rootCommonName("mesh.example.com")).toBe("mesh.example.com Root CA");
    const edge = "x".repeat(64 - " Root CA".length);
    expect(rootCommonName(edge)).toBe(`${edge} Root CA`);
  });

  it("shortens deterministically to at most 64 characters and keeps names distinct", () => {
    const a = rootCommonName(LONG);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(a).toBe(rootCommonName(LONG));
    expect(a).toMatch(/^a{47}-[0-9a-f]{8} Root CA$/);
    expect(rootCommonName(LONG.replace(/d$/, "e"))).not.toBe(a);
  });

  it("a 253-character trust domain gets a root and intermediate that openssl -x509_strict verifies", async () => {
    expect(LONG).toHaveLength(253);
    const t = await testApp();
    const res = await t.app.inject({ method: "POST", url: "/v1/trust-domains", headers: t.auth(), payload: { name: LONG } });
    expect(res.statusCode).toBe(201);
    const root = cert(res.json().roots[0].certificatePem);
    const cn = root.subjectName.getField("CN")[0]!;
    expect(cn.length).toBeLessThanOrEqual(64);
    expect(cn).toBe(rootCommonName(LONG));
    await t.core.clusters.register({ name: "east-1", trustDomain: LONG }, TEST_CTX);
    const issued = await t.core.issuance.issue("east-1", {}, TEST_CTX);
    const dir = writeFiles({ "root.pem": res.json().roots[0].certificatePem, "inter.pem": issued.record.certPem });
    const at = String(Math.floor(new Date(issued.record.notBefore).getTime() / 1000) + 3600);
    const out = openssl(["verify", "-x509_strict", "-attime", at, "-CAfile", `${dir}/root.pem`, `${dir}/inter.pem`]);
    expect(out).toContain("inter.pem: OK");
    expect(openssl(["x509", "-noout", "-subject", "-in", `${dir}/root.pem`])).toContain(cn);
  });
});
