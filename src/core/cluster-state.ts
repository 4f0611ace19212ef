import type { ClusterRecord, IntermediateRecord } from "./ports.js";

export type IntermediateState = "prepared" | "active" | "superseded" | "revoked" | "expired";
export type ClusterState = "pending" | "active" | "due" | "expired" | "revoked" | "decommissioned";

/** An intermediate's status as seen at `now`: a stored active or superseded one past not_after is expired. */
export function intermediateState(rec: IntermediateRecord, now: Date): IntermediateState {
  if (rec.status === "revoked") return "revoked";
  if (rec.notAfter.getTime() <= now.getTime()) return "expired";
  return rec.status;
}

/**
 * A cluster's status at `now`, derived from its active and newest intermediates: pending (none
 * issued), active, due (past rotate_after), expired, revoked (newest revoked, no replacement),
 * decommissioned.
 */
export function clusterState(
  cluster: ClusterRecord,
  active: Pick<IntermediateRecord, "status" | "notAfter" | "rotateAfter"> | undefined,
  latest: Pick<IntermediateRecord, "status"> | undefined,
  now: Date,
): ClusterState {
  if (cluster.decommissionedAt) return "decommissioned";
  if (!active) {
    if (!latest) return "pending";
    return latest.status === "revoked" ? "revoked" : "expired";
  }
  const t = now.getTime();
  if (active.notAfter.getTime() <= t) return "expired";
  if (active.rotateAfter.getTime() <= t) return "due";
  return "active";
}
