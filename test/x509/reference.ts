import * as x509 from "@peculiar/x509";
import type { RootRecord } from "../../src/core/ports.js";
import { envelopeVault } from "../../src/keys/envelope-vault.js";
import { parseSealedRef } from "../../src/keys/sealed-root-keys.js";
import { subjectKeyId, type Issuer } from "../../src/x509/certificates.js";
import { CRL_NUMBER_OID, REVOCATION_REASONS, signCrlDer, type CrlEntry } from "../../src/x509/crl.js";
import { keyImportParams, signingAlgorithm, type KeyAlgorithm } from "../../src/x509/key-algorithms.js";
import type { CaProfile } from "../../src/x509/profiles.js";
import { ecdsaDer } from "../../src/x509/der.js";
import type { Signer } from "../../src/x509/signer.js";
import { MASTER_KEY } from "../helpers.js";

/**
 * The reference path the fast encoders are tested against: the same profiles and CRLs through
 * @peculiar/x509's generic ASN.1 encoder, and test-side signers that hold a CryptoKey.
 */

/** A signing CA as the tests hold it: its certificate and private key. */
export interface TestIssuer {
  cert: x509.X509Certificate;
  keyAlgorithm: KeyAlgorithm;
  /** Hex SKI. */
  keyId: string;
  privateKey: CryptoKey;
}

/** A stored root with its key opened from the sealed key reference (tests use MASTER_KEY). */
export async function rootIssuer(root: RootRecord): Promise<TestIssuer> {
  const { aad, sealed } = parseSealedRef(root.keyRef);
  const pkcs8 = await envelopeVault(MASTER_KEY).open(sealed, aad);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, keyImportParams(root.keyAlgorithm), false, ["sign"]);
  return { cert: new x509.X509Certificate(root.certPem), keyAlgorithm: root.keyAlgorithm, keyId: root.keyId, privateKey };
}

/** The Issuer the production encoders take, over a test issuer. */
export function issuerOf(t: TestIssuer): Issuer {
  return {
    subjectDer: new Uint8Array(t.cert.subjectName.toArrayBuffer()),
    // An empty keyId stands for the certificate's own SKI (what an uploaded CRL's AKI must be).
    keyId: t.keyId || subjectKeyId(t.cert),
    signer: cryptoKeySigner(crypto, t.privateKey, t.keyAlgorithm, new Uint8Array(t.cert.publicKey.rawData)),
  };
}

/** A profile's subject as @peculiar/x509 takes it. */
export function jsonName(profile: CaProfile): x509.JsonName {
  return profile.subject.map(([type, value]) => ({ [type]: [value] }));
}

/** A CA certificate from `profile` through the generic encoder; self-signed when no issuer is given. */
export async function referenceCaCertificate(
  profile: CaProfile,
  input: { serial: string; notBefore: Date; notAfter: Date; keys: { publicKey: CryptoKey; privateKey?: CryptoKey }; keyAlgorithm: KeyAlgorithm; issuer?: TestIssuer; crlUrl?: string; caIssuersUrl?: string },
): Promise<x509.X509Certificate> {
  const usages = profile.keyUsage.reduce((flags, u) => flags | x509.KeyUsageFlags[u], 0);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, profile.pathLength, true),
    new x509.KeyUsagesExtension(usages, true),
    await x509.SubjectKeyIdentifierExtension.create(input.keys.publicKey, false, crypto),
  ];
  if (profile.authorityKeyId) extensions.push(new x509.AuthorityKeyIdentifierExtension(input.issuer!.keyId, false));
  if (input.crlUrl) extensions.push(new x509.CRLDistributionPointsExtension([input.crlUrl]));
  if (input.caIssuersUrl) extensions.push(new x509.AuthorityInfoAccessExtension({ caIssuers: input.caIssuersUrl }));
  const signingKey = input.issuer?.privateKey ?? input.keys.privateKey!;
  const signingAlg = input.issuer?.keyAlgorithm ?? input.keyAlgorithm;
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: input.serial,
      subject: jsonName(profile),
      issuer: input.issuer ? input.issuer.cert.subjectName : jsonName(profile),
      notBefore: input.notBefore,
      notAfter: input.notAfter,
      publicKey: input.keys.publicKey,
      signingKey,
      signingAlgorithm: signingAlgorithm(signingAlg),
      extensions,
    },
    crypto,
  );
}

type CrlInput = { signer: TestIssuer; number: number; thisUpdate: Date; nextUpdate: Date; entries: CrlEntry[] };

/** A CRL through the production (fast) encoder, parsed back. */
export async function signCrl(input: CrlInput): Promise<x509.X509Crl> {
  const { der } = await signCrlDer({ ...input, issuer: issuerOf(input.signer) });
  return new x509.X509Crl(der, { berOptions: { maxNodes: 100 + 12 * input.entries.length } });
}

/** DER of a non-negative INTEGER, written independently of src/x509/der.ts. */
function derInteger(n: number): Uint8Array<ArrayBuffer> {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  const body = Buffer.from(hex, "hex");
  return new Uint8Array([0x02, body.length, ...body]);
}

/** The same CRL through @peculiar/x509's generic encoder. */
export async function signCrlGeneric(input: CrlInput): Promise<x509.X509Crl> {
  return x509.X509CrlGenerator.create(
    {
      issuer: input.signer.cert.subjectName,
      thisUpdate: input.thisUpdate,
      nextUpdate: input.nextUpdate,
      signingKey: input.signer.privateKey,
      signingAlgorithm: signingAlgorithm(input.signer.keyAlgorithm),
      extensions: [new x509.AuthorityKeyIdentifierExtension(input.signer.keyId, false), new x509.Extension(CRL_NUMBER_OID, false, derInteger(input.number))],
      entries: input.entries.map((e) => ({ serialNumber: e.serial, revocationDate: e.revokedAt, reason: REVOCATION_REASONS[e.reason] })),
    },
    crypto,
  );
}

/**
 * A Signer over a WebCrypto private key: the reference the encoders' output is compared with
 * (meshroot itself signs through node:crypto KeyObjects, src/x509/signer.ts).
 */
export function cryptoKeySigner(crypto: Crypto, privateKey: CryptoKey, keyAlgorithm: KeyAlgorithm, spki: Uint8Array): Signer {
  const algorithm = signingAlgorithm(keyAlgorithm);
  const ecdsa = keyAlgorithm.startsWith("ecdsa");
  return {
    keyAlgorithm,
    spki,
    async sign(data) {
      const raw = Buffer.from(await crypto.subtle.sign(algorithm, privateKey, data as Uint8Array<ArrayBuffer>));
      return ecdsa ? ecdsaDer(raw) : raw;
    },
  };
}
