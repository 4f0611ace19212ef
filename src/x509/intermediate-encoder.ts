import { createHash } from "node:crypto";
import { algorithmIdentifier, ecdsaDer, extension, name, seq, time, tlv, uint, subjectPublicKeyBits } from "./der.js";
import type { IntermediateProfileInput } from "./intermediate-profile.js";
import { signingAlgorithm, type KeyAlgorithm } from "./key-algorithms.js";

/**
 * A DER encoder for the fixed intermediate profile (intermediate-profile.ts), the hot path of
 * issuance: the generic ASN.1 encoder and the parse-back of its result cost more than the
 * signature. Tests compare it byte for byte with the generic path (X509CertificateGenerator with
 * intermediateProfile) and parse every field back with @peculiar/x509 and openssl.
 */

const BASIC_CONSTRAINTS = extension("2.5.29.19", seq(Buffer.from([0x01, 0x01, 0xff]), Buffer.from([0x02, 0x01, 0x00])), true);
// digitalSignature (bit 0), keyCertSign (bit 5), cRLSign (bit 6): 1000 0110, one unused bit.
const KEY_USAGE = extension("2.5.29.15", Buffer.from([0x03, 0x02, 0x01, 0x86]), true);

export interface EncodeIntermediateInput extends Omit<IntermediateProfileInput, "publicKey"> {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the intermediate's key. */
  spki: Uint8Array;
  /** DER Name of the signing root (its certificate's subject). */
  issuer: Uint8Array;
  rootKeyAlgorithm: KeyAlgorithm;
  rootKey: CryptoKey;
}

/** Builds and signs an intermediate certificate; returns its DER. */
export async function encodeIntermediate(input: EncodeIntermediateInput, crypto: Crypto): Promise<Buffer> {
  const ski = createHash("sha1").update(subjectPublicKeyBits(input.spki)).digest();
  const extensions = [
    BASIC_CONSTRAINTS,
    KEY_USAGE,
    extension("2.5.29.14", tlv(0x04, ski)),
    extension("2.5.29.35", seq(tlv(0x80, Buffer.from(input.rootKeyId, "hex")))),
  ];
  if (input.crlUrl) {
    extensions.push(extension("2.5.29.31", seq(seq(tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(input.crlUrl, "latin1"))))))));
  }
  if (input.caIssuersUrl) {
    extensions.push(extension("1.3.6.1.5.5.7.1.1", seq(seq(Buffer.from([0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02]), tlv(0x86, Buffer.from(input.caIssuersUrl, "latin1"))))));
  }
  const algorithm = algorithmIdentifier(input.rootKeyAlgorithm);
  const tbs = seq(
    Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]),
    uint(Buffer.from(input.serial, "hex")),
    algorithm,
    Buffer.from(input.issuer),
    seq(time(input.notBefore), time(input.notAfter)),
    name([
      ["2.5.4.10", input.organization],
      ["2.5.4.3", "Intermediate CA"],
      ["2.5.4.7", input.clusterName],
      ["2.5.4.11", `generation-${input.generation}`],
    ]),
    Buffer.from(input.spki),
    tlv(0xa3, seq(...extensions)),
  );
  const raw = Buffer.from(await crypto.subtle.sign(signingAlgorithm(input.rootKeyAlgorithm), input.rootKey, new Uint8Array(tbs)));
  const signature = input.rootKeyAlgorithm.startsWith("ecdsa") ? ecdsaDer(raw) : raw;
  return seq(tbs, algorithm, tlv(0x03, Buffer.from([0]), signature));
}
