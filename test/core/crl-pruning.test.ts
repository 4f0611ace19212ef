import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { prunableIssuers } from "../../src/core/ca-crl-issuers.js";
import { testCore, TEST_CTX } from "../helpers.js";

const HOUR = 3_600_000;
const at = (h: number) => new Date(Date.UTC(2026, 0, 1) + h * HOUR);

describe("prunableIssuers", () => {
  const base = { cluster: "east", status: "superseded" as const };
  it("prunes a superseded intermediate once its cluster signed with another for the workload lifetime", () => {
    const issuers = [
      { ...base, serial: "g1", generation: 1, signingSeenAt: at(0) },
      { ...base, serial: "g2", generation: 2, status: "active" as const, signingSeenAt: at(10) },
      { ...base, cluster: "west", serial: "w1", generation: 1 },
      { ...base, cluster: "west", serial: "w2", generation: 2, status: "active" as const },
    ];
    expect(prunableIssuers(issuers, at(33), 24 * HOUR)).toEqual(new Set());
    expect(prunableIssuers(issuers, at(34), 24 * HOUR)).toEqual(new Set(["g1"]));
    // Never reported: kept until it expires.
    expect(prunableIssuers(issuers, at(10_000), 24 * HOUR).has("w1")).toBe(false);
  });

  it("follows the intermediate reported last, not the highest generation, and never prunes the current or a prepared one", () => {
    const issuers = [
      { ...base, serial: "a3", generation: 3, signingSeenAt: at(5) },
      { ...base, serial: "b2", generation: 2, status: "active" as const, signingSeenAt: at(20) },
      { ...base, serial: "a1", generation: 1, signingSeenAt: at(0) },
      { ...base, serial: "p4", generation: 4, status: "prepared" as const, signingSeenAt: at(30) },
    ];
    expect(prunableIssuers(issuers, at(44), 24 * HOUR)).toEqual(new Set(["a3", "a1"]));
    const rolledBack = [{ ...issuers[0]!, status: "active" as const }, { ...issuers[1]!, status: "prepared" as const }, issuers[2]!];
    expect(prunableIssuers(rolledBack, at(100), 24 * HOUR)).toEqual(new Set(["a1"]));
  });
});

describe("ca-crl.pem pruning", () => {
  it("drops a superseded intermediate's CRL a workload lifetime after its cluster reported signing with the successor; peers stay converged", async () => {
    const t = testCore();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    for (const name of ["east", "west"]) {
      await t.core.clusters.register({ name, trustDomain: "cluster.local" }, TEST_CTX);
      await t.core.issuance.issue(name, {}, TEST_CTX);
    }
    const first = (await t.core.clusters.get("east")).active!;
    const second = await t.core.issuance.issue("east", {}, TEST_CTX);
    const issuersOf = async () => {
      const pem = (await t.core.revocation.caCrlBundle("cluster.local")).pem;
      return (pem.match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g) ?? []).map((b) => new x509.X509Crl(b).issuer);
    };
    const subject = (pem: string) => new x509.X509Certificate(pem).subject;
    expect(await issuersOf()).toContain(subject(first.certPem));
    const bundle = await t.core.trustDomains.bundlePem("cluster.local");
    const report = async (cluster: string, caCertPem: string) =>
      t.core.fleet.observe(cluster, JSON.stringify({ rootCertPem: bundle, caCertPem, crlPem: (await t.core.revocation.caCrlBundle("cluster.local")).pem }), TEST_CTX);
    await report("east", second.record.certPem);
    t.clock.advance(24 * HOUR - 1000);
    expect(await issuersOf()).toContain(subject(first.certPem));
    t.clock.advance(2000);
    const after = await issuersOf();
    expect(after).not.toContain(subject(first.certPem));
    expect(after).toContain(subject(second.record.certPem));
    expect(after).toHaveLength(1 + 2);
    // The fleet view asks for the same issuers: a peer that loaded the smaller bundle is converged.
    const west = (await t.core.clusters.get("west")).active!;
    const v = await report("west", west.certPem);
    expect(v.trust).toMatchObject({ state: "converged", reasons: [] });
    expect(v.desired.crlIssuers.map((i) => i.serial)).not.toContain(first.serial);
  });
});
