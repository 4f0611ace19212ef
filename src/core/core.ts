import type { Clock } from "../clock.js";
import { auditService } from "./audit-service.js";
import { clusterService } from "./clusters.js";
import { fleetService } from "./fleet.js";
import { inventoryService } from "./inventory.js";
import { issuanceService } from "./issuance.js";
import { issuerCache } from "./issuers.js";
import { nullObserver, type KeyVault, type Observer, type RootKeys, type Store } from "./ports.js";
import { revocationService } from "./revocation.js";
import { rootRotationService } from "./root-rotation.js";
import { rotationService } from "./rotation.js";
import { stagedRotationService } from "./staged-rotation.js";
import { tokenService } from "./tokens.js";
import { trustDomainService } from "./trust-domains.js";

export interface CoreDeps {
  store: Store;
  /** Root keys, by key reference. */
  rootKeys: RootKeys;
  /** The escrow of intermediate keys (sealed per row). */
  vault: KeyVault;
  /** The WebCrypto provider that verifies signatures and imports escrowed keys (Node's own by default). */
  crypto: Crypto;
  clock: Clock;
  /** Base URL put in CRL distribution points and AIA of new intermediates. */
  publicUrl?: string | undefined;
  /** Validity of the CRLs meshroot signs, in milliseconds (default 7 days). */
  crlValidityMs?: number | undefined;
  /** Most intermediates one cluster may get in any 24 hours (default 24). */
  maxIssuancesPerClusterPerDay?: number | undefined;
  /** How long workload certificates live, in milliseconds (default 24 h): when a superseded intermediate's CRL may leave ca-crl.pem. */
  workloadCertTtlMs?: number | undefined;
  /** How far ahead of rotate-after a staged rotation prepares the next generation, in milliseconds (default 2 days). */
  prepareLeadMs?: number | undefined;
  /** A cluster whose latest observation is older than this is stale, in milliseconds (default 24 h). */
  observationMaxAgeMs?: number | undefined;
  /** Receives outcomes (metrics) and changes to what public routes serve (their caches). */
  observer?: Observer | undefined;
}

/** Wires the core services over one store, key custody, crypto provider and clock. */
export function createCore(input: CoreDeps) {
  const deps = { ...input, observer: input.observer ?? nullObserver };
  const issuers = issuerCache(deps);
  const staging = stagedRotationService(deps);
  const issuance = issuanceService({ ...deps, issuers, staging });
  const revocation = revocationService({ ...deps, issuers });
  return {
    trustDomains: trustDomainService(deps),
    clusters: clusterService(deps),
    issuance,
    revocation,
    rotation: rotationService({ ...deps, issuance, staging, revocation }),
    staging,
    rootRotation: rootRotationService({ ...deps, issuance }),
    tokens: tokenService(deps),
    audit: auditService(deps),
    inventory: inventoryService(deps),
    fleet: fleetService(deps),
  };
}

export type Core = ReturnType<typeof createCore>;
