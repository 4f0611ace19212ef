import type { Clock } from "../clock.js";
import { clusterService } from "./clusters.js";
import { issuanceService } from "./issuance.js";
import type { KeyVault } from "./key-vault.js";
import type { Store } from "./store.js";
import { tokenService } from "./tokens.js";
import { trustDomainService } from "./trust-domains.js";

export interface CoreDeps {
  store: Store;
  vault: KeyVault;
  /** The WebCrypto provider every key operation goes through (Node's own by default). */
  crypto: Crypto;
  clock: Clock;
}

/** Wires the core services over one store, vault, crypto provider and clock. */
export function createCore(deps: CoreDeps) {
  return {
    trustDomains: trustDomainService(deps),
    clusters: clusterService(deps),
    issuance: issuanceService(deps),
    tokens: tokenService(deps),
  };
}

export type Core = ReturnType<typeof createCore>;
