import type { Store } from "../../core/ports.js";
import { auditAppender, sqliteAuditStore } from "./audit-store.js";
import { sqliteAuditCheckpointStore } from "./audit-checkpoint-store.js";
import { sqliteClusterStore } from "./cluster-store.js";
import { sqliteCrlStore } from "./crl-store.js";
import type { Db } from "./database.js";
import { sqliteFleetQueries } from "./fleet-queries.js";
import { sqliteIntermediateStore } from "./intermediate-store.js";
import type { IssuanceCommitter } from "./group-commit.js";
import { sqliteObservationStore } from "./observation-store.js";
import { sqliteRootRotationStore } from "./root-rotation-store.js";
import { sqliteRevocationStore } from "./revocation-store.js";
import { sqliteTokenStore } from "./token-store.js";
import { sqliteTrustDomainStore } from "./trust-domain-store.js";

/**
 * The core's Store over one migrated SQLite database; every write carries its audit event.
 * Issuances commit on `options.writer`'s thread when given (a database file), else on `db`.
 */
export function sqliteStore(db: Db, options: { writer?: IssuanceCommitter } = {}): Store {
  const append = auditAppender(db);
  return {
    ...sqliteTrustDomainStore(db, append),
    ...sqliteClusterStore(db, append),
    ...sqliteIntermediateStore(db, append, options.writer),
    ...sqliteTokenStore(db, append),
    ...sqliteCrlStore(db, append),
    ...sqliteRevocationStore(db, append),
    ...sqliteFleetQueries(db),
    ...sqliteObservationStore(db, append),
    ...sqliteRootRotationStore(db, append),
    ...sqliteAuditStore(db, append),
    ...sqliteAuditCheckpointStore(db),
  };
}
