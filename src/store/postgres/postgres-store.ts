import type { Store } from "../../core/ports.js";
import { postgresAuditCheckpointStore } from "./audit-checkpoint-store.js";
import { postgresAuditStore } from "./audit-store.js";
import { postgresClusterStore } from "./cluster-store.js";
import { postgresCrlStore } from "./crl-store.js";
import { postgresFleetQueries } from "./fleet-queries.js";
import { postgresIntermediateStore } from "./intermediate-store.js";
import { postgresObservationStore } from "./observation-store.js";
import type { PgDb } from "./pool.js";
import { postgresRevocationStore } from "./revocation-store.js";
import { postgresRootRotationStore } from "./root-rotation-store.js";
import { postgresTokenStore } from "./token-store.js";
import { postgresTrustDomainStore } from "./trust-domain-store.js";

/**
 * The core's Store over one migrated PostgreSQL database, shared by any number of replicas:
 * every write carries its audit event, and every such write takes the audit lock first, so the
 * chain has one order however many processes write.
 */
export function postgresStore(db: PgDb): Store {
  return {
    ...postgresTrustDomainStore(db),
    ...postgresClusterStore(db),
    ...postgresIntermediateStore(db),
    ...postgresTokenStore(db),
    ...postgresCrlStore(db),
    ...postgresRevocationStore(db),
    ...postgresFleetQueries(db),
    ...postgresObservationStore(db),
    ...postgresRootRotationStore(db),
    ...postgresAuditStore(db),
    ...postgresAuditCheckpointStore(db),
  };
}
