import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { DAY_MS } from "../../src/clock.js";
import { observedFacts } from "../../src/core/observed-facts.js";
import { deriveTrustState as derive, desiredBundle, type NeededIssuer, type TrustStateInput } from "../../src/core/trust-state.js";
import { subjectKeyId } from "../../src/x509/certificates.js";
import { testCore, TEST_CTX } from "../helpers.js";

const HOUR = 3_600_000;

/** What a cluster reported, as PEM texts: parsed into facts the way the service does at ingest. */
type Reported = { observedAt: Date; rootCertPem: string; caCertPem: string | null; crlPem: string | null };
type Input = Omit<TrustStateInput, "observation"> & { observation: Reported | undefined };
const deriveTrustState = (i: Input) => derive({ ...i, observation: i.observation && { observedAt: i.observation.observedAt, facts: observedFacts(i.observation) } });

/** A trust domain with one cluster and its first intermediate: the real files it would run. */
async function fleet() {
  const t = testCore();
  const td = await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
  const { record } = await t.core.issuance.issue("east", {}, TEST_CTX);
  const { files } = await t.core.issuance.activeFiles("east", TEST_CTX);
  const crl = await t.core.revocation.caCrlBundle("cluster.local");
  const root = td.roots[0]!;
  const keyOf = (pem: string) => subjectKeyId(new x509.X509Certificate(pem));
  const needed: NeededIssuer[] = [
    { serial: root.serial, kind: "root", keyId: root.keyId },
    { serial: record.serial, kind: "intermediate", keyId: keyOf(record.certPem), cluster: "east" },
  ];
  const observation: Reported = {
    observedAt: t.clock.now(),
    rootCertPem: files["root-cert.pem"],
    caCertPem: files["ca-cert.pem"],
    crlPem: crl.pem,
  };
  const input: Input = {
    activeFingerprint: record.fingerprintSha256,
    desired: desiredBundle(files["root-cert.pem"]),
    needed,
    observation,
    now: t.clock.now(),
    maxAgeMs: 24 * HOUR,
  };
  return { ...t, record, files, crl: crl.pem, root, input, observation };
}

const codes = (v: { reasons: { code: string }[] }) => v.reasons.map((r) => r.code);

describe("deriveTrustState", () => {
  it("is converged when the cluster loaded exactly the desired files, and reports the CRLs' earliest nextUpdate", async () => {
    const { input } = await fleet();
    const v = deriveTrustState(input);
    expect(v).toMatchObject({ state: "converged", reasons: [] });
    // meshroot signs CRLs valid 7 days (thisUpdate backdated a minute, rounded to seconds).
    expect(v.crlNextUpdate!.getTime()).toBeGreaterThan(input.now.getTime() + 6 * DAY_MS);
  });

  it("is unknown when the cluster never reported", async () => {
    const { input } = await fleet();
    expect(deriveTrustState({ ...input, observation: undefined })).toEqual({ state: "unknown", reasons: [expect.objectContaining({ code: "never_observed" })], crlNextUpdate: null });
  });

  it("is stale once the latest observation is older than the max age, keeping any drift as a hint", async () => {
    const { input, observation } = await fleet();
    const old = { ...observation, observedAt: new Date(input.now.getTime() - 25 * HOUR) };
    const v = deriveTrustState({ ...input, observation: old });
    expect(v.state).toBe("stale");
    expect(codes(v)).toEqual(["observation_stale"]);
    expect(v.reasons[0]!.detail).toContain("25 h old");
    expect(deriveTrustState({ ...input, observation: { ...old, observedAt: new Date(input.now.getTime() - 24 * HOUR) } }).state).toBe("converged");
    expect(codes(deriveTrustState({ ...input, observation: { ...old, caCertPem: old.rootCertPem } }))).toEqual(["observation_stale", "signing_not_active"]);
  });

  it("reports a bundle with other bytes but the same certificates as a set", async () => {
    const { input, observation } = await fleet();
    const reencoded = observation.rootCertPem.replace(/\n/g, "\r\n");
    const v = deriveTrustState({ ...input, observation: { ...observation, rootCertPem: reencoded + observation.rootCertPem } });
    expect(v.state).toBe("drift");
    expect(v.reasons).toEqual([expect.objectContaining({ code: "bundle_mismatch", sameSet: true, missing: [], unexpected: [] })]);
  });

  it("names the roots missing from and unexpected in the loaded bundle", async () => {
    const { input, observation, root } = await fleet();
    const other = await fleet();
    const v = deriveTrustState({ ...input, observation: { ...observation, rootCertPem: other.observation.rootCertPem } });
    expect(v.reasons).toEqual([
      expect.objectContaining({ code: "bundle_mismatch", sameSet: false, missing: [root.fingerprintSha256], unexpected: [other.root.fingerprintSha256] }),
    ]);
  });

  it("reports istiod signing with another certificate than the active intermediate, or with none active", async () => {
    const { input, observation, record, root } = await fleet();
    const v = deriveTrustState({ ...input, observation: { ...observation, caCertPem: root.certPem } });
    expect(v.reasons).toEqual([expect.objectContaining({ code: "signing_not_active", observed: root.fingerprintSha256, expected: record.fingerprintSha256 })]);
    expect(deriveTrustState({ ...input, activeFingerprint: undefined }).reasons).toEqual([expect.objectContaining({ code: "signing_not_active", expected: null })]);
    // Not reported: nothing to compare.
    expect(deriveTrustState({ ...input, observation: { ...observation, caCertPem: null } }).state).toBe("converged");
  });

  it("lists the issuers the fleet needs whose CRL the cluster did not load", async () => {
    const { input, observation, record } = await fleet();
    const onlyRootCrl = observation.crlPem!.match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----\n/)![0];
    const v = deriveTrustState({ ...input, observation: { ...observation, crlPem: onlyRootCrl } });
    expect(v.state).toBe("drift");
    expect(v.reasons).toEqual([expect.objectContaining({ code: "crl_missing_issuer", issuers: [{ serial: record.serial, kind: "intermediate", cluster: "east" }] })]);
    expect(v.reasons[0]!.detail).toContain(record.serial);
    expect(deriveTrustState({ ...input, observation: { ...observation, crlPem: null } }).state).toBe("converged");
  });

  it("lists at most 100 missing issuers, with the total, and names ten in the detail", async () => {
    const { input, observation } = await fleet();
    const many: NeededIssuer[] = Array.from({ length: 250 }, (_, i) => ({ serial: `s${i}`, kind: "intermediate", keyId: `k${i}`, cluster: `c${i}` }));
    const v = deriveTrustState({ ...input, needed: [...input.needed, ...many], observation });
    const reason = v.reasons[0]!;
    expect([reason.code, reason.issuers!.length, reason.issuerCount]).toEqual(["crl_missing_issuer", 100, 250]);
    expect(reason.issuers![0]).toEqual({ serial: "s0", kind: "intermediate", cluster: "c0" });
    expect(reason.detail).toMatch(/250 issuer\(s\).*s0, s1, .*s9 and 240 more$/);
  });

  it("reports loaded CRLs within a day of nextUpdate, then past it", async () => {
    const { input } = await fleet();
    const next = deriveTrustState(input).crlNextUpdate!.getTime();
    const near = deriveTrustState({ ...input, now: new Date(next - DAY_MS + 1000), maxAgeMs: 30 * DAY_MS });
    expect(near.state).toBe("drift");
    expect(codes(near)).toEqual(["crl_expiring", "crl_expiring"]);
    expect(near.reasons[0]!.nextUpdate).toBe(new Date(next).toISOString());
    const past = deriveTrustState({ ...input, now: new Date(next + 1000), maxAgeMs: 30 * DAY_MS });
    expect(codes(past)).toEqual(["crl_expired", "crl_expired"]);
    expect(deriveTrustState({ ...input, now: new Date(next - DAY_MS - 1000), maxAgeMs: 30 * DAY_MS }).state).toBe("converged");
  });
});
