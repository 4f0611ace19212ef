import { createHash } from "node:crypto";
import type { Clock } from "../clock.js";
import { DomainError } from "../errors.js";
import type { AuditEvent } from "./audit.js";
import { parseSinglePem } from "../x509/pem.js";
import type { CertificateFilter, IntermediateRecord, Store } from "./ports.js";

type Deps = { store: Pick<Store, "listCertificates" | "getIntermediate" | "iterateAudit">; clock: Clock };

export interface CertificateDetail {
  record: IntermediateRecord;
  fingerprints: { sha256: string; sha1: string };
  /** Every audit event whose target is this certificate, oldest first. */
  history: AuditEvent[];
}

/** What was issued, to whom, and whether it is still valid. */
export function inventoryService({ store, clock }: Deps) {
  return {
    /** Newest first; `after` is the (createdAt, serial) of the previous page's last item. */
    list(filter: CertificateFilter, page: { limit: number; after?: { createdAt: number; serial: string } | undefined }) {
      return store.listCertificates(filter, clock.now(), page);
    },

    /** One certificate with its fingerprints and history; throws `certificate_not_found`. */
    async get(serial: string): Promise<CertificateDetail> {
      const record = await store.getIntermediate(serial);
      if (!record) throw new DomainError("certificate_not_found", `no intermediate has serial ${serial}`);
      const der = parseSinglePem(record.certPem, "certificate", ["CERTIFICATE"]).der;
      const history: AuditEvent[] = [];
      for await (const e of store.iterateAudit({ target: serial })) history.push(e);
      return {
        record,
        fingerprints: { sha256: record.fingerprintSha256, sha1: createHash("sha1").update(der).digest("hex") },
        history,
      };
    },
  };
}

export type InventoryService = ReturnType<typeof inventoryService>;
