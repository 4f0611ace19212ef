import * as x509 from "@peculiar/x509";
import { CA_KEY_USAGES, type Profile } from "./root-profile.js";

/** RFC 4514 escaping, as @peculiar/x509's Name.toString writes it. */
function escapeRdn(value: string): string {
  return value
    .replace(/([,+"\\<>;])/g, "\\$1")
    .replace(/^([ #])/, "\\$1")
    .replace(/([ ]$)/, "\\$1")
    .replace(/([\r\n\t])/, (c) => `\\${Buffer.from(c, "utf8").toString("hex").toUpperCase()}`);
}

/** The subject of an intermediate as a string, the way the certificate's parsed subject reads. */
export function intermediateSubject(organization: string, clusterName: string, generation: number): string {
  return `O=${escapeRdn(organization)}, CN=Intermediate CA, L=${escapeRdn(clusterName)}, OU=generation-${generation}`;
}

export interface IntermediateProfileInput {
  organization: string;
  clusterName: string;
  generation: number;
  /** The intermediate's public key (generated or taken from a CSR). */
  publicKey: CryptoKey | x509.PublicKey;
  /** Hex subject key identifier of the signing root. */
  rootKeyId: string;
  /** CRL distribution point URL, when a public base URL is configured. */
  crlUrl?: string | undefined;
  /** AIA caIssuers URL, when a public base URL is configured. */
  caIssuersUrl?: string | undefined;
}

/**
 * The per-cluster intermediate profile: subject `O=<org>, CN=Intermediate CA, L=<cluster>,
 * OU=generation-<n>` (Istio's tooling layout plus the generation, so that every generation has a
 * distinct issuer name for CRL matching); basicConstraints critical CA:TRUE pathlen 0; keyUsage
 * critical keyCertSign, cRLSign, digitalSignature; SKI; AKI = the root's SKI; optional CRL DP and
 * AIA. Never an extendedKeyUsage (istio/istio#27193).
 */
export async function intermediateProfile(input: IntermediateProfileInput, crypto: Crypto): Promise<Profile> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(CA_KEY_USAGES, true),
    await x509.SubjectKeyIdentifierExtension.create(input.publicKey, false, crypto),
    new x509.AuthorityKeyIdentifierExtension(input.rootKeyId, false),
  ];
  if (input.crlUrl) extensions.push(new x509.CRLDistributionPointsExtension([input.crlUrl]));
  if (input.caIssuersUrl) extensions.push(new x509.AuthorityInfoAccessExtension({ caIssuers: input.caIssuersUrl }));
  return {
    subject: [
      { O: [input.organization] },
      { CN: ["Intermediate CA"] },
      { L: [input.clusterName] },
      { OU: [`generation-${input.generation}`] },
    ],
    extensions,
  };
}
