import { createHash } from "node:crypto";
import { algorithmIdentifier, extension, name, oid, seq, subjectPublicKeyBits, time, tlv, uint } from "./der.js";
import { NAME_ATTRIBUTES, KEY_USAGE_BITS, type CaProfile, type KeyUsage, type Rdn } from "./profiles.js";
import type { Signer } from "./signer.js";

/**
 * The DER encoder of every CA certificate meshroot signs, from a profile (profiles.ts). It is the
 * hot path of issuance: the generic ASN.1 encoder and the parse-back of its result cost more than
 * the signature. Tests compare it byte for byte with the generic path (@peculiar/x509's generator
 * fed the same profile) and parse every field back with @peculiar/x509 and openssl.
 */

export interface EncodeCaInput {
  profile: CaProfile;
  /** Hex serial number. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key. */
  spki: Uint8Array;
  /** DER Name of the issuer; undefined for a self-signed certificate (the subject). */
  issuer?: Uint8Array | undefined;
  /** Hex SKI of the issuer, for the AKI when the profile has one. */
  issuerKeyId?: string | undefined;
  /** CRL distribution point URL, when a public base URL is configured. */
  crlUrl?: string | undefined;
  /** AIA caIssuers URL, when a public base URL is configured. */
  caIssuersUrl?: string | undefined;
  /** The issuer's signer (the certified key's own for a self-signed root). */
  signer: Signer;
}

const CA_ISSUERS = oid("1.3.6.1.5.5.7.48.2");
const CRITICAL_CA = Buffer.from([0x01, 0x01, 0xff]);

/** DER Name of a profile subject: PrintableString where it can be, else UTF8String. */
export function subjectDer(subject: readonly Rdn[]): Buffer {
  return name(subject.map(([type, value]) => [NAME_ATTRIBUTES[type], value]));
}

/** The KeyUsage BIT STRING of a set of usages (one or two bytes, unused trailing bits counted). */
export function keyUsageBits(usages: readonly KeyUsage[]): Buffer {
  const bits = usages.map((u) => KEY_USAGE_BITS[u]);
  const high = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(high / 8) + 1);
  for (const b of bits) bytes[Math.floor(b / 8)]! |= 0x80 >> b % 8;
  return tlv(0x03, Buffer.from([7 - (high % 8)]), bytes);
}

/** Hex SKI of a key: SHA-1 of its subjectPublicKey bits (RFC 5280 §4.2.1.2, method 1). */
export function keyIdentifier(spki: Uint8Array): string {
  return createHash("sha1").update(subjectPublicKeyBits(spki)).digest("hex");
}

/** Builds and signs a CA certificate from its profile; returns its DER. */
export async function encodeCaCertificate(input: EncodeCaInput): Promise<Buffer> {
  const { profile } = input;
  const subject = subjectDer(profile.subject);
  const constraints = profile.pathLength === undefined ? seq(CRITICAL_CA) : seq(CRITICAL_CA, uint(profile.pathLength));
  const extensions = [
    extension("2.5.29.19", constraints, true),
    extension("2.5.29.15", keyUsageBits(profile.keyUsage), true),
    extension("2.5.29.14", tlv(0x04, Buffer.from(keyIdentifier(input.spki), "hex"))),
  ];
  if (profile.authorityKeyId) extensions.push(extension("2.5.29.35", seq(tlv(0x80, Buffer.from(input.issuerKeyId ?? "", "hex")))));
  if (input.crlUrl) extensions.push(extension("2.5.29.31", seq(seq(tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(input.crlUrl, "latin1"))))))));
  if (input.caIssuersUrl) extensions.push(extension("1.3.6.1.5.5.7.1.1", seq(seq(CA_ISSUERS, tlv(0x86, Buffer.from(input.caIssuersUrl, "latin1"))))));
  const algorithm = algorithmIdentifier(input.signer.keyAlgorithm);
  const tbs = seq(
    Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]),
    uint(input.serial),
    algorithm,
    input.issuer ? Buffer.from(input.issuer) : subject,
    seq(time(input.notBefore), time(input.notAfter)),
    subject,
    Buffer.from(input.spki),
    tlv(0xa3, seq(...extensions)),
  );
  const signature = await input.signer.sign(tbs);
  return seq(tbs, algorithm, tlv(0x03, Buffer.from([0]), Buffer.from(signature)));
}
