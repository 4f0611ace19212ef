import type { X509Certificate } from "@peculiar/x509";
import { DAY_MS } from "../clock.js";
import { DomainError } from "../errors.js";
import { certPem, fingerprintSha256, signRoot, subjectKeyId } from "../x509/certificates.js";
import { DEFAULT_KEY_ALGORITHM, type KeyAlgorithm } from "../x509/key-algorithms.js";
import type { HsmRootKeys, RootKeys, RootKeyStorage, RootRecord, Store } from "./ports.js";
import { checkSignerMatches, validateImportedRoot, validateRootCertificate } from "./root-import.js";

export const DEFAULT_ORGANIZATION = "meshroot";
export const DEFAULT_ROOT_VALIDITY_DAYS = 3650;

/** A root to make: generated (key in RootKeys) or imported (certificate and key checked). */
export interface NewRootInput {
  root?: { keyAlgorithm?: KeyAlgorithm | undefined; validityDays?: number | undefined; organization?: string | undefined; keyStorage?: RootKeyStorage | undefined } | undefined;
  /** The root's key as PEM, or (keyUri) a key already in the HSM. */
  import?: { certificatePem: string; privateKeyPem?: string | undefined; keyUri?: string | undefined } | undefined;
}

/** The HSM's root keys; throws `pkcs11_not_configured` when this meshroot has none. */
function hsmOf(rootKeys: RootKeys): HsmRootKeys {
  if (!rootKeys.hsm) throw new DomainError("pkcs11_not_configured", "this meshroot has no HSM configured for root keys (the MESHROOT_PKCS11_* settings): create the root with keyStorage software, or configure the token and restart");
  return rootKeys.hsm;
}

/**
 * Makes a trust domain's root of `generation` (1 at creation, the next one for a root rotation):
 * a generated key and self-signed certificate, or an imported pair after the import checks.
 * The key is bound to the serial in RootKeys; nothing is stored. Throws `root_in_use` and the
 * errors of root import.
 */
export async function newRoot(
  deps: { store: Pick<Store, "findRootByFingerprint">; rootKeys: RootKeys; crypto: Crypto },
  trustDomain: string,
  generation: number,
  input: NewRootInput,
  defaultOrganization: string,
  now: Date,
): Promise<{ record: RootRecord; organization: string; warnings: string[] }> {
  let organization = input.root?.organization ?? defaultOrganization;
  let cert: X509Certificate;
  let keyAlgorithm: KeyAlgorithm;
  let key: Awaited<ReturnType<RootKeys["generate"]>>;
  let warnings: string[] = [];
  if (input.import && (input.import.keyUri === undefined) === (input.import.privateKeyPem === undefined)) {
    throw new DomainError("validation_failed", "import needs its key: privateKeyPem or keyUri (a key in the HSM), one of them", [{ path: "body.import", message: "give privateKeyPem or keyUri" }]);
  }
  if (input.import?.keyUri !== undefined) {
    const { keyUri } = input.import;
    const hsm = hsmOf(deps.rootKeys);
    const imported = await validateRootCertificate(input.import.certificatePem, now, deps.crypto);
    const other = await deps.store.findRootByFingerprint(fingerprintSha256(imported.cert));
    if (other) throw new DomainError("root_in_use", `this root certificate already serves trust domain ${other.trustDomain}; a root can serve only one, once`);
    warnings = imported.warnings;
    organization = imported.cert.subjectName.getField("O")[0] ?? DEFAULT_ORGANIZATION;
    ({ cert, keyAlgorithm } = imported);
    key = await hsm.adopt(keyUri, keyAlgorithm);
    await checkSignerMatches(cert, key.signer, "import.keyUri");
  } else if (input.import?.privateKeyPem !== undefined) {
    const imported = await validateImportedRoot({ certificatePem: input.import.certificatePem, privateKeyPem: input.import.privateKeyPem }, now, deps.crypto);
    const other = await deps.store.findRootByFingerprint(fingerprintSha256(imported.cert));
    if (other) throw new DomainError("root_in_use", `this root certificate already serves trust domain ${other.trustDomain}; a root can serve only one, once`);
    warnings = imported.warnings;
    organization = imported.cert.subjectName.getField("O")[0] ?? DEFAULT_ORGANIZATION;
    ({ cert, keyAlgorithm } = imported);
    key = await deps.rootKeys.importPkcs8(imported.pkcs8, keyAlgorithm);
  } else {
    keyAlgorithm = input.root?.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM;
    key = await (input.root?.keyStorage === "pkcs11" ? hsmOf(deps.rootKeys) : deps.rootKeys).generate(keyAlgorithm);
    const validityDays = input.root?.validityDays ?? DEFAULT_ROOT_VALIDITY_DAYS;
    const t = Math.floor(now.getTime() / 1000) * 1000;
    cert = await signRoot({ trustDomain, organization, generation, notBefore: new Date(t - 60_000), notAfter: new Date(t + validityDays * DAY_MS), signer: key.signer });
  }
  const serial = cert.serialNumber.toLowerCase();
  const record: RootRecord = {
    serial,
    trustDomain,
    generation,
    status: generation === 1 ? "active" : "prepared",
    imported: input.import !== undefined,
    keyAlgorithm,
    keyId: subjectKeyId(cert),
    certPem: certPem(cert),
    keyRef: await key.bind(serial),
    fingerprintSha256: fingerprintSha256(cert),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    createdAt: now,
  };
  return { record, organization, warnings };
}
