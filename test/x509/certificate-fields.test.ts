import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { subjectAndSpki } from "../../src/x509/certificate-fields.js";
import { DerError } from "../../src/x509/der-reader.js";
import { testCore, TEST_CTX } from "../helpers.js";

describe("subjectAndSpki", () => {
  it("reads the subject and public key of meshroot's certificates as a full parser does", async () => {
    const t = testCore();
    const td = await t.core.trustDomains.create({ name: "cluster.local", root: { keyAlgorithm: "rsa-2048" } }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
    const { record } = await t.core.issuance.issue("east", {}, TEST_CTX);
    for (const pem of [td.roots[0]!.certPem, record.certPem]) {
      const cert = new x509.X509Certificate(pem);
      const fields = subjectAndSpki(new Uint8Array(cert.rawData));
      expect(Buffer.from(fields.subjectDer).equals(Buffer.from(cert.subjectName.toArrayBuffer()))).toBe(true);
      expect(Buffer.from(fields.spki).equals(Buffer.from(cert.publicKey.rawData))).toBe(true);
    }
  });

  it("throws DerError on a truncated or foreign structure", () => {
    expect(() => subjectAndSpki(new Uint8Array([0x30, 0x05, 0x30, 0x03, 0x02, 0x01]))).toThrow(DerError);
    expect(() => subjectAndSpki(new Uint8Array([0x30, 0x03, 0x30, 0x01, 0x05]))).toThrow(DerError);
  });
});
