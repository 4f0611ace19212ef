import * as x509 from "@peculiar/x509";
import { subjectKeyId } from "../x509/certificates.js";
import type { LiveIssuer, Store } from "./ports.js";

/** Parsed key identifiers kept at most (older rows only; new ones carry theirs). */
const CACHE_LIMIT = 100_000;

/**
 * Subject key identifiers of intermediates as CRL issuers: stored at issuance, or read once per
 * serial from the certificate of a row issued before it was (certificates never change).
 */
export function issuerKeyIds(store: Pick<Store, "getIntermediate">): (issuers: LiveIssuer[]) => Promise<Map<string, string>> {
  const parsed = new Map<string, string>();
  return async (issuers) => {
    const out = new Map<string, string>();
    for (const issuer of issuers) {
      let id = issuer.keyId ?? parsed.get(issuer.serial);
      if (id === undefined) {
        const rec = await store.getIntermediate(issuer.serial);
        if (!rec) continue;
        if (parsed.size >= CACHE_LIMIT) parsed.clear();
        id = subjectKeyId(new x509.X509Certificate(rec.certPem));
        parsed.set(issuer.serial, id);
      }
      out.set(issuer.serial, id);
    }
    return out;
  };
}
