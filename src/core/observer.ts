/**
 * What the core reports as it works, for counters: the HTTP layer turns these into Prometheus
 * metrics; the core knows nothing of Prometheus.
 */
export interface Observer {
  issuance(outcome: "success" | "failure"): void;
  rotation(outcome: "success" | "failure" | "skipped"): void;
  revocation(outcome: "success" | "failure"): void;
}

export const nullObserver: Observer = { issuance() {}, rotation() {}, revocation() {} };
