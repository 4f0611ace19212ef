import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { crlNumber, type CrlEntry } from "../../src/x509/crl.js";
import { DAY_MS } from "../../src/clock.js";
import { cert, openssl, testCore, TEST_CTX, writeFiles } from "../helpers.js";
import type { KeyAlgorithm } from "../../src/x509/key-algorithms.js";
import { rootIssuer, signCrl, signCrlGeneric } from "./reference.js";

async function signerFor(alg: KeyAlgorithm) {
  const { core, db } = testCore();
  const td = await core.trustDomains.create({ name: "cluster.local", root: { keyAlgorithm: alg } }, TEST_CTX);
  const root = td.roots[0]!;
  db.close();
  return { root, signer: await rootIssuer(root) };
}

const reasons = ["unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded", "cessationOfOperation"] as const;
const entries = (n: number, at: Date): CrlEntry[] =>
  Array.from({ length: n }, (_, i) => ({
    serial: (i === 0 ? "00ff" : i === 1 ? "7f" : i === 2 ? "80" : `${(0x40 + (i % 0x3f)).toString(16)}${i.toString(16).padStart(30, "0")}`),
    revokedAt: new Date(at.getTime() - i * 1000),
    reason: reasons[i % reasons.length]!,
  }));

describe("the fast CRL encoder", () => {
  it("writes exactly the bytes of the generic encoder (RSA signatures are deterministic)", async () => {
    const { signer } = await signerFor("rsa-2048");
    const at = new Date("2026-03-01T10:00:00Z");
    for (const [n, number] of [[0, 1], [1, 127], [7, 128], [50, 65_536]] as const) {
      // Every reason but unspecified: there the generic encoder writes an empty extension list (see below).
      const list = entries(n, at).map((e) => (e.reason === "unspecified" ? { ...e, reason: "keyCompromise" as const } : e));
      const input = { signer, number, thisUpdate: at, nextUpdate: new Date(at.getTime() + 7 * DAY_MS), entries: list };
      const fast = Buffer.from((await signCrl(input)).rawData);
      const generic = Buffer.from((await signCrlGeneric(input)).rawData);
      expect(fast.toString("hex"), `${n} entries, number ${number}`).toBe(generic.toString("hex"));
    }
  });

  it("writes the generic encoder's bytes for awkward serials and revocation dates from 2050 on", async () => {
    const { signer } = await signerFor("rsa-2048");
    const at = new Date("2026-03-01T10:00:00Z");
    const list: CrlEntry[] = [
      ["abc", "2049-12-31T23:59:59Z"], ["000080", "2050-01-01T00:00:00Z"], ["00", "2099-06-30T12:34:56Z"], ["ff", "1999-01-02T03:04:05Z"],
      ["0001", "2051-02-03T04:05:06Z"], ["7f".repeat(20), "2026-02-01T00:00:00Z"], ["80".repeat(20), "2030-07-08T09:10:11Z"],
    ].map(([serial, date], i) => ({ serial: serial!, revokedAt: new Date(date!), reason: reasons[1 + (i % (reasons.length - 1))]! }));
    const input = { signer, number: 9, thisUpdate: at, nextUpdate: new Date(at.getTime() + DAY_MS), entries: list };
    expect(Buffer.from((await signCrl(input)).rawData).toString("hex")).toBe(Buffer.from((await signCrlGeneric(input)).rawData).toString("hex"));
  });

  it("leaves the reason code out for unspecified, as RFC 5280 asks", async () => {
    const { signer } = await signerFor("ecdsa-p256");
    const at = new Date("2026-03-01T10:00:00Z");
    const crl = await signCrl({ signer, number: 1, thisUpdate: at, nextUpdate: new Date(at.getTime() + DAY_MS), entries: [{ serial: "0a", revokedAt: at, reason: "unspecified" }] });
    expect(crl.entries[0]!.extensions).toEqual([]);
    expect(crl.entries[0]!.reason).toBeUndefined();
  });

  it.each(["ecdsa-p256", "ecdsa-p384", "rsa-3072"] as const)("%s: every field parses back and the signature verifies (x509 and openssl)", async (alg) => {
    const { signer, root } = await signerFor(alg);
    const at = new Date("2049-12-31T23:59:59Z");
    const list = entries(10, at);
    const crl = await signCrl({ signer, number: 300, thisUpdate: at, nextUpdate: new Date("2050-01-07T00:00:00Z"), entries: list });
    const issuer = cert(root.certPem);
    expect(await crl.verify({ publicKey: issuer.publicKey })).toBe(true);
    expect(crl.version).toBe(1);
    expect(crl.issuer).toBe(issuer.subject);
    expect(crl.thisUpdate.toISOString()).toBe("2049-12-31T23:59:59.000Z");
    expect(crl.nextUpdate!.toISOString()).toBe("2050-01-07T00:00:00.000Z");
    expect(crlNumber(crl)).toBe(300);
    expect(crl.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(signer.keyId);
    expect(crl.entries.map((e) => [e.serialNumber.toLowerCase().replace(/^0+(?=.)/, ""), e.reason, e.revocationDate.getTime()])).toEqual(
      list.map((e) => [e.serial.replace(/^0+(?=.)/, ""), e.reason === "unspecified" ? undefined : x509.X509CrlReason[e.reason], e.revokedAt.getTime()]),
    );
    const dir = writeFiles({ "root.pem": root.certPem, "crl.pem": crl.toString("pem").replace(/BEGIN CRL|END CRL/g, (m) => m.replace("CRL", "X509 CRL")) });
    const text = openssl(["crl", "-in", `${dir}/crl.pem`, "-CAfile", `${dir}/root.pem`, "-noout", "-text"]);
    expect(text).toContain("X509v3 CRL Number: \n                300");
    expect(text).toContain("Next Update: Jan  7 00:00:00 2050 GMT");
    expect(text.match(/Serial Number:/g)).toHaveLength(10);
    expect(text).toContain("Key Compromise");
  });

  it("encodes 100,000 entries", async () => {
    const { signer, root } = await signerFor("ecdsa-p256");
    const at = new Date("2026-03-01T10:00:00Z");
    const crl = await signCrl({ signer, number: 2, thisUpdate: at, nextUpdate: new Date(at.getTime() + DAY_MS), entries: entries(100_000, at) });
    expect(crl.entries).toHaveLength(100_000);
    expect(await crl.verify({ publicKey: cert(root.certPem).publicKey })).toBe(true);
  });
});
