import { z } from "zod";
import { PemText, Timestamp, TrustDomainName, KeyAlgorithmSchema } from "./common.js";

/** Characters of an X.509 PrintableString (what the organization attribute is encoded as). */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]+$/;

/** A root meshroot generates (trust-domain creation, root rotation). */
export const GeneratedRoot = z.strictObject({
  keyAlgorithm: KeyAlgorithmSchema.optional().describe("root key algorithm (default ecdsa-p256)"),
  keyStorage: z
    .enum(["software", "pkcs11"])
    .optional()
    .describe("where the root key is made and kept: software (sealed under the master key, the default) or pkcs11 (generated inside the HSM, never leaves it; needs the MESHROOT_PKCS11_* settings)"),
  validityDays: z.int().min(1).max(36_500).optional().describe("root validity in days (default 3650)"),
  organization: z
    .string()
    .min(1)
    .max(64)
    .regex(PRINTABLE, "may hold letters, digits, spaces and ' ( ) + , - . / : = ?")
    .optional()
    .describe("O= of the root and its intermediates (default meshroot)"),
});

/** An existing root and its key (PEM, or a key already in the HSM), imported after the import checks. */
export const ImportedRoot = z
  .strictObject({
    certificatePem: PemText("the root certificate (PEM)"),
    privateKeyPem: PemText("its private key: PEM PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY, unencrypted").optional(),
    keyUri: z
      .string()
      .min(8)
      .max(1024)
      .regex(/^pkcs11:[^?]*$/, "must be an RFC 7512 pkcs11: URI without a query, e.g. pkcs11:token=meshroot;id=%01;type=private")
      .optional()
      .describe("instead of privateKeyPem: the RFC 7512 URI of its private key in the configured HSM token (checked by signing with it)"),
  })
  .refine((b) => (b.privateKeyPem === undefined) !== (b.keyUri === undefined), { message: "give privateKeyPem or keyUri, one of them", path: ["keyUri"] });

const CaCrl = z
  .boolean()
  .describe(
    "its clusters load ca-crl.pem (cacerts ?crl=true): rotations are staged, a new intermediate is prepared and activated only once every peer loaded its CRL (default false: one-step rotation)",
  );

/** PATCH /v1/trust-domains/{name}. */
export const UpdateTrustDomainBody = z
  .strictObject({ caCrl: CaCrl })
  .describe("the trust domain's settings to change")
  .meta({ id: "UpdateTrustDomainRequest", examples: [{ caCrl: true }] });

export const CreateTrustDomainBody = z
  .strictObject({
    name: TrustDomainName,
    root: GeneratedRoot.optional().describe("parameters of a generated root"),
    import: ImportedRoot.optional().describe("an existing root to import instead of generating one"),
    caCrl: CaCrl.optional(),
  })
  .refine((b) => !(b.root && b.import), { message: "give either root (generate) or import, not both", path: ["import"] })
  .describe("a trust domain with a generated or imported root")
  .meta({
    id: "CreateTrustDomainRequest",
    examples: [{ name: "mesh.example.com", root: { organization: "Example Inc", keyAlgorithm: "ecdsa-p256", validityDays: 3650 } }],
  });

export const Root = z.object({
  serial: z.string().describe("hex serial number"),
  generation: z.int(),
  status: z.enum(["prepared", "active", "retiring", "retired", "revoked"]).describe("prepared: a root rotation's new root, not yet trusted; retired/revoked: replaced by a root rotation"),
  imported: z.boolean(),
  keyAlgorithm: KeyAlgorithmSchema,
  keyStorage: z.enum(["software", "pkcs11"]).describe("software: sealed under the master key in the database; pkcs11: in the HSM, never extractable"),
  subject: z.string(),
  notBefore: Timestamp,
  notAfter: Timestamp,
  fingerprintSha256: z.string().describe("SHA-256 of the certificate DER, hex"),
  certificatePem: z.string(),
}).meta({ id: "Root" });

export const TrustDomain = z.object({
  name: TrustDomainName,
  organization: z.string(),
  caCrl: z.boolean().describe("its clusters load ca-crl.pem: rotations are staged (prepared, then activated once peers have the CRL)"),
  createdAt: Timestamp,
  roots: z.array(Root).describe("roots, oldest generation first"),
}).meta({ id: "TrustDomain" });

export const CreatedTrustDomain = TrustDomain.extend({
  warnings: z.array(z.string()).describe("what a strict verifier may refuse about the root (e.g. no subject key identifier); empty when nothing"),
}).meta({ id: "CreatedTrustDomain" });
