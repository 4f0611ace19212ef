import * as x509 from "@peculiar/x509";
import { sign } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/errors.js";
import { extension, oid, seq, time, tlv, uint } from "../../src/x509/der.js";
import { verifyUploadedCrl } from "../../src/x509/crl.js";
import { crypto, generateKeys, openssl, T0, writeFiles } from "../helpers.js";

/** Uploaded CRLs are accepted only in a strict profile (issue 16, item 5, third bullet). */

const now = new Date(T0);
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));
const AKI = "2.5.29.35";
const CRL_NUMBER = "2.5.29.20";
const REASON = "2.5.29.21";

/** An external-custody intermediate as the tests hold it: its certificate (with an SKI) and its key. */
async function intermediate() {
  const keys = await generateKeys("ecdsa-p256");
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: "4b01",
      name: "O=meshroot, CN=Intermediate CA, L=west, OU=generation-1",
      keys,
      notBefore: new Date("2026-01-01T00:00:00Z"),
      notAfter: new Date("2027-01-01T00:00:00Z"),
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto)],
    },
    crypto,
  );
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
  return { cert, pkcs8, ski };
}

type Issuer = Awaited<ReturnType<typeof intermediate>>;
const akiOf = (keyId: string) => extension(AKI, seq(tlv(0x80, Buffer.from(keyId, "hex"))));
const number = (n: number) => extension(CRL_NUMBER, uint(n));
const entry = (serial: Buffer, exts?: Buffer[]) => seq(tlv(0x02, serial), time(now), ...(exts ? [seq(...exts)] : []));
const reason = (code: number, critical = false) => extension(REASON, tlv(0x0a, Buffer.from([code])), critical);

/**
 * A CRL signed by the intermediate's key, built field by field so that each test can break one
 * rule: `version` null leaves it out (v1), `extensions` null leaves out the [0] block.
 */
function crl(issuer: Issuer, opts: { version?: number | null; entries?: Buffer[]; extensions?: Buffer[] | null } = {}): Buffer {
  const version = opts.version === undefined ? 1 : opts.version;
  const extensions = opts.extensions === undefined ? [akiOf(issuer.ski), number(7)] : opts.extensions;
  const tbs = seq(
    ...(version === null ? [] : [uint(version)]),
    ECDSA_SHA256,
    Buffer.from(issuer.cert.subjectName.toArrayBuffer()),
    time(new Date(now.getTime() - 60_000)),
    time(new Date(now.getTime() + 7 * 86_400_000)),
    ...(opts.entries?.length ? [seq(...opts.entries)] : []),
    ...(extensions === null ? [] : [tlv(0xa0, seq(...extensions))]),
  );
  const signature = sign("sha256", tbs, { key: issuer.pkcs8, format: "der", type: "pkcs8" });
  return seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
}

async function refusal(issuer: Issuer, der: Buffer): Promise<string> {
  return verifyUploadedCrl(der, issuer.cert, now, crypto).then(
    () => "ok",
    (e: unknown) => (e instanceof DomainError ? `${e.code}: ${e.message}` : String(e)),
  );
}

describe("uploaded CRL profile", () => {
  it("accepts a v2 CRL with AKI, CRL number and entries with reasonCode and invalidityDate; openssl reads it", async () => {
    const i = await intermediate();
    const invalidity = extension("2.5.29.24", tlv(0x18, Buffer.from("20260101000000Z")));
    const der = crl(i, { entries: [entry(Buffer.from([0x0b, 0xad])), entry(Buffer.from([0x01]), [reason(1), invalidity])] });
    const { crl: parsed, number: n } = await verifyUploadedCrl(der, i.cert, now, crypto);
    expect(n).toBe(7);
    expect(parsed.entries.map((e) => e.serialNumber)).toEqual(["0bad", "01"]);
    const dir = writeFiles({ "crl.pem": `-----BEGIN X509 CRL-----\n${der.toString("base64")}\n-----END X509 CRL-----\n` });
    const text = openssl(["crl", "-in", `${dir}/crl.pem`, "-noout", "-text"]);
    expect(text).toContain("Version 2 (0x1)");
    expect(text).toContain("X509v3 CRL Number");
  });

  it("accepts a CRL made by `openssl ca -gencrl` with authorityKeyIdentifier and crlnumber", async () => {
    const dir = writeFiles({ "index.txt": "", crlnumber: "05\n" });
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/key.pem`, "-subj", "/O=meshroot/CN=Intermediate CA", "-days", "3650", "-out", `${dir}/cert.pem`]);
    const cnf = `[ca]\ndefault_ca=d\n[d]\ndatabase=${dir}/index.txt\ncrlnumber=${dir}/crlnumber\ndefault_md=sha256\ndefault_crl_days=7\ncrl_extensions=ext\n[ext]\nauthorityKeyIdentifier=keyid\n`;
    writeFileSync(join(dir, "ca.cnf"), cnf);
    openssl(["ca", "-config", `${dir}/ca.cnf`, "-gencrl", "-cert", `${dir}/cert.pem`, "-keyfile", `${dir}/key.pem`, "-out", `${dir}/crl.pem`]);
    const issuer = new x509.X509Certificate(readFileSync(join(dir, "cert.pem"), "utf8"));
    const { number: n } = await verifyUploadedCrl(readFileSync(join(dir, "crl.pem")), issuer, new Date(), crypto);
    expect(n).toBe(5);
  });

  it("refuses a v1 CRL (with or without extensions)", async () => {
    const i = await intermediate();
    expect(await refusal(i, crl(i, { version: null }))).toMatch(/^invalid_crl: .*not version 2/);
    expect(await refusal(i, crl(i, { version: null, extensions: null }))).toMatch(/^invalid_crl: .*not version 2/);
    expect(await refusal(i, crl(i, { version: 0 }))).toMatch(/^invalid_crl: .*not version 2/);
  });

  it("refuses a CRL without an AKI, without a CRL number, or with an AKI that is not the intermediate's SKI", async () => {
    const i = await intermediate();
    expect(await refusal(i, crl(i, { extensions: null }))).toMatch(/^invalid_crl: .*no extensions/);
    expect(await refusal(i, crl(i, { extensions: [number(1)] }))).toMatch(/^invalid_crl: .*no authorityKeyIdentifier/);
    expect(await refusal(i, crl(i, { extensions: [akiOf(i.ski)] }))).toMatch(/^invalid_crl: .*no CRL number/);
    expect(await refusal(i, crl(i, { extensions: [akiOf("00".repeat(20)), number(1)] }))).toMatch(/^invalid_crl: .*authorityKeyIdentifier 0{40} is not the intermediate's/);
  });

  it("refuses any critical CRL extension, known or not", async () => {
    const i = await intermediate();
    const criticalNumber = extension(CRL_NUMBER, uint(1), true);
    expect(await refusal(i, crl(i, { extensions: [akiOf(i.ski), criticalNumber] }))).toMatch(/^invalid_crl: .*extension 2\.5\.29\.20 is critical/);
    const unknown = extension("1.3.6.1.4.1.99999.1", tlv(0x05, Buffer.alloc(0)), true);
    expect(await refusal(i, crl(i, { extensions: [akiOf(i.ski), number(1), unknown] }))).toMatch(/^invalid_crl: .*1\.3\.6\.1\.4\.1\.99999\.1 is critical/);
  });

  it("refuses delta CRL indicators, issuing distribution points (indirect CRLs) and freshest CRL pointers", async () => {
    const i = await intermediate();
    const delta = extension("2.5.29.27", uint(3));
    // IDP { indirectCRL [4] TRUE }, non-critical so that only the IDP rule can refuse it.
    const idp = extension("2.5.29.28", seq(tlv(0x84, Buffer.from([0xff]))));
    const freshest = extension("2.5.29.46", seq(seq(tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from("http://x/delta.crl")))))));
    expect(await refusal(i, crl(i, { extensions: [akiOf(i.ski), number(1), delta] }))).toMatch(/^invalid_crl: .*delta CRL indicator/);
    expect(await refusal(i, crl(i, { extensions: [akiOf(i.ski), number(1), idp] }))).toMatch(/^invalid_crl: .*issuing distribution point/);
    expect(await refusal(i, crl(i, { extensions: [akiOf(i.ski), number(1), freshest] }))).toMatch(/^invalid_crl: .*freshest CRL/);
  });

  it("refuses negative and zero serials, critical or unknown entry extensions (certificateIssuer)", async () => {
    const i = await intermediate();
    expect(await refusal(i, crl(i, { entries: [entry(Buffer.from([0xff, 0x01]))] }))).toMatch(/^invalid_crl: .*serial ff01 is not a positive integer/);
    expect(await refusal(i, crl(i, { entries: [entry(Buffer.from([0x00]))] }))).toMatch(/^invalid_crl: .*serial 00 is not a positive integer/);
    expect(await refusal(i, crl(i, { entries: [entry(Buffer.from([0x05]), [reason(1, true)])] }))).toMatch(/^invalid_crl: .*entry 05 extension 2\.5\.29\.21 is critical/);
    const certificateIssuer = extension("2.5.29.29", seq(tlv(0x82, Buffer.from("other.example"))));
    expect(await refusal(i, crl(i, { entries: [entry(Buffer.from([0x05]), [certificateIssuer])] }))).toMatch(/^invalid_crl: .*entry 05 has extension 2\.5\.29\.29/);
  });
});
