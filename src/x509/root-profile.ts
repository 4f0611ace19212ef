import * as x509 from "@peculiar/x509";

/** Key usages of every CA certificate meshroot issues (DESIGN §3). */
export const CA_KEY_USAGES =
  x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature;

export interface RootProfileInput {
  trustDomain: string;
  organization: string;
  publicKey: CryptoKey;
}

export interface Profile {
  subject: x509.JsonName;
  extensions: x509.Extension[];
}

/**
 * The root CA profile: subject `O=<org>, CN=<trust domain> Root CA`; basicConstraints critical
 * CA:TRUE without pathlen; keyUsage critical keyCertSign, cRLSign, digitalSignature; SKI.
 * No extendedKeyUsage.
 */
export async function rootProfile(input: RootProfileInput, crypto: Crypto): Promise<Profile> {
  return {
    subject: [{ O: [input.organization] }, { CN: [`${input.trustDomain} Root CA`] }],
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(CA_KEY_USAGES, true),
      await x509.SubjectKeyIdentifierExtension.create(input.publicKey, false, crypto),
    ],
  };
}
