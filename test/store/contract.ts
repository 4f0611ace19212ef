import { describe } from "vitest";
import { auditContract } from "./contract/audit.js";
import { checkpointContract } from "./contract/checkpoints.js";
import { directoryContract } from "./contract/directory.js";
import type { OpenStore } from "./contract/fixtures.js";
import { intermediateContract } from "./contract/intermediates.js";
import { observationContract } from "./contract/observations.js";
import { revocationContract } from "./contract/revocation.js";
import { rootContract } from "./contract/roots.js";

export type { OpenStore };

/**
 * The storage contract: what every backend of the core's Store (src/core/ports.ts) must do,
 * written against that interface alone, so that one suite holds SQLite and any later backend to
 * the same behaviour (in the manner of SPIRE's datastore sqltest suite). `open` gives a fresh,
 * empty, migrated store for each test.
 */
export function describeStorageContract(backend: string, open: OpenStore): void {
  describe(`storage contract: ${backend}`, () => {
    directoryContract(open);
    rootContract(open);
    intermediateContract(open);
    revocationContract(open);
    observationContract(open);
    auditContract(open);
    checkpointContract(open);
  });
}
