import type { Clock } from "../clock.js";
import { auditService } from "./audit-service.js";
import { clusterService } from "./clusters.js";
import { inventoryService } from "./inventory.js";
import { issuanceService } from "./issuance.js";
import type { KeyVault } from "../keys/envelope-vault.js";
import { nullObserver, type Observer } from "./observer.js";
import { revocationService } from "./revocation.js";
import { rotationService } from "./rotation.js";
import { signerCache } from "../keys/signers.js";
import type { Store } from "./ports.js";
import { tokenService } from "./tokens.js";
import { trustDomainService } from "./trust-domains.js";

export interface CoreDeps {
  store: Store;
  vault: KeyVault;
  /** The WebCrypto provider every key operation goes through (Node's own by default). */
  crypto: Crypto;
  clock: Clock;
  /** Base URL put in CRL distribution points and AIA of new intermediates. */
  publicUrl?: string | undefined;
  /** Validity of the CRLs meshroot signs, in milliseconds (default 7 days). */
  crlValidityMs?: number | undefined;
  /** Receives issuance, rotation and revocation outcomes (metrics). */
  observer?: Observer | undefined;
}

/** Wires the core services over one store, vault, crypto provider and clock. */
export function createCore(input: CoreDeps) {
  const deps = { ...input, observer: input.observer ?? nullObserver };
  const signers = signerCache(deps);
  const issuance = issuanceService({ ...deps, signers });
  return {
    trustDomains: trustDomainService(deps),
    clusters: clusterService(deps),
    issuance,
    revocation: revocationService({ ...deps, signers }),
    rotation: rotationService({ ...deps, issuance }),
    tokens: tokenService(deps),
    audit: auditService(deps),
    inventory: inventoryService(deps),
  };
}

export type Core = ReturnType<typeof createCore>;
