import type { RootRecord, RootRotationRecord, RotationPhase } from "./ports.js";

/**
 * What each phase of a root rotation puts in the files clusters load, as Istio needs it (issue
 * 11): old root A, new root B.
 *
 * | phase      | signs with (ca-cert.pem) | root-cert.pem                 | ca-crl.pem issuers            |
 * |------------|--------------------------|-------------------------------|-------------------------------|
 * | (none)     | int under A              | A                             | A, live int_A                 |
 * | prepared   | int_A                    | A                             | A, live int_A                 |
 * | trust-both | int_A                    | A ‖ B                         | A, B, live int_A, prepared int_B |
 * | sign-new   | int_B once switched      | A ‖ B ‖ B switched, else A ‖ B | unchanged                    |
 * | drop-old   | int_B                    | B                             | B, live int_B                 |
 *
 * The old bundle's bytes stay first and unchanged (istiod before 1.31 accepts a new bundle only
 * when one contains the other byte for byte); the repeated B in sign-new changes the bundle so
 * istiod pushes it, while staying a superset. Pure: callers load the roots and the rotation.
 */

/** A rotation that still shapes what clusters load (not finished or rolled back). */
export function openRotation(rotation: RootRotationRecord | undefined): RootRotationRecord | undefined {
  return rotation && rotation.phase !== "done" && rotation.phase !== "rolled-back" ? rotation : undefined;
}

const byGeneration = (a: RootRecord, b: RootRecord) => a.generation - b.generation;

function pair(roots: RootRecord[], rotation: RootRotationRecord): { a: RootRecord; b: RootRecord } {
  const a = roots.find((r) => r.serial === rotation.oldRoot);
  const b = roots.find((r) => r.serial === rotation.newRoot);
  if (!a || !b) throw new Error(`root rotation ${rotation.id}: its roots are missing`);
  return { a, b };
}

/** Roots trusted outside a rotation: active (or retiring) ones, oldest first. */
function steady(roots: RootRecord[]): RootRecord[] {
  return roots.filter((r) => r.status === "active" || r.status === "retiring").sort(byGeneration);
}

/** The trust domain's bundle (the public bundle, and peers' view): each trusted root once. */
export function trustedRoots(roots: RootRecord[], rotation: RootRotationRecord | undefined): RootRecord[] {
  const open = openRotation(rotation);
  if (!open) return steady(roots);
  const { a, b } = pair(roots, open);
  return phaseRoots(open.phase, a, b);
}

function phaseRoots(phase: RotationPhase, a: RootRecord, b: RootRecord): RootRecord[] {
  if (phase === "prepared") return [a];
  if (phase === "drop-old") return [b];
  return [a, b];
}

/** The roots of a cluster's root-cert.pem, in order (B twice for a cluster switched in sign-new). */
export function bundleRoots(roots: RootRecord[], rotation: RootRotationRecord | undefined, switched: boolean): RootRecord[] {
  const open = openRotation(rotation);
  if (!open) return steady(roots);
  const { a, b } = pair(roots, open);
  if (open.phase === "sign-new" && switched) return [a, b, b];
  return phaseRoots(open.phase, a, b);
}

/** The root a cluster's next intermediate is issued under. */
export function issuingRoot(roots: RootRecord[], rotation: RootRotationRecord | undefined, switched: boolean): RootRecord | undefined {
  const open = openRotation(rotation);
  if (!open) return roots.find((r) => r.status === "active");
  const { a, b } = pair(roots, open);
  if (open.phase === "drop-old" || (open.phase === "sign-new" && switched)) return b;
  return a;
}

/** Whether a cluster signs under the rotation's new root (its active intermediate is B's). */
export function isSwitched(rotation: RootRotationRecord | undefined, activeRootSerial: string | undefined): boolean {
  const open = openRotation(rotation);
  return open !== undefined && activeRootSerial === open.newRoot;
}

/** The PEM text of a list of roots, as root-cert.pem holds it. */
export function bundlePem(roots: RootRecord[]): string {
  return roots.map((r) => r.certPem).join("");
}
