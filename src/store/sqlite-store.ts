import type { Store } from "../ca/store.js";
import { sqliteClusterStore } from "./cluster-store.js";
import { sqliteCrlStore } from "./crl-store.js";
import type { Db } from "./database.js";
import { sqliteIntermediateStore } from "./intermediate-store.js";
import { sqliteTokenStore } from "./token-store.js";
import { sqliteTrustDomainStore } from "./trust-domain-store.js";

/** The core's Store over one migrated SQLite database. */
export function sqliteStore(db: Db): Store {
  return {
    ...sqliteTrustDomainStore(db),
    ...sqliteClusterStore(db),
    ...sqliteIntermediateStore(db),
    ...sqliteTokenStore(db),
    ...sqliteCrlStore(db),
  };
}
