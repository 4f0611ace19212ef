import { createHash } from "node:crypto";
import type { Clock } from "../clock.js";
import { DAY_MS } from "../clock.js";
import { DomainError } from "../errors.js";
import { cacertsFiles, type CacertsFiles } from "../istio/cacerts.js";
import { encodeCaCertificate, keyIdentifier } from "../x509/ca-encoder.js";
import { verifyCsr } from "../x509/csr.js";
import { toPem } from "../x509/pem.js";
import { subjectAndSpki } from "../x509/certificate-fields.js";
import { generateKeyPairDer, pkcs8Pem } from "../x509/private-keys.js";
import { keyObjectSigner } from "../x509/signer.js";
import { intermediateProfile, subjectText } from "../x509/profiles.js";
import { newSerial } from "../x509/serial.js";
import { auditInput, type AuditContext } from "./audit.js";
import { requireCluster } from "./clusters.js";
import { intermediateKeyAad, type IssuerCache } from "./issuers.js";
import type { ClusterPolicy, IntermediateRecord, KeyVault, Observer, Page, RootRecord, Store } from "./ports.js";
import { bundleRoots, isSwitched, issuingRoot, openRotation } from "./root-rotation-plan.js";
import type { PendingActivation, StagedRotationService } from "./staged-rotation.js";

/** A trust domain's roots and its latest root rotation, as one read saw them. */
type RootsRead = [RootRecord[], Awaited<ReturnType<Store["latestRootRotation"]>>];

/** How far notBefore is set back, for clocks that run a little behind. */
export const BACKDATE_MS = 60_000;

export interface IssueRequest {
  /** PKCS#10 CSR for external custody; absent for an escrowed key. */
  csrPem?: string | undefined;
  idempotencyKey?: string | undefined;
  /** SHA-256 of the request body, to refuse an idempotency key reused for a different request. */
  requestHash?: string | undefined;
}

/**
 * An issuance: the active intermediate and its Secret's files, or (a staged rotation) the
 * prepared one with the peers that hold its activation back, and no files.
 */
export type IssueResult = {
  record: IntermediateRecord;
  /** False when an earlier request with the same idempotency key is replayed. */
  created: boolean;
} & ({ files: CacertsFiles; pending?: undefined } | { files?: undefined; pending: PendingActivation });

type Deps = {
  store: Pick<
    Store,
    | "getCluster"
    | "listRoots"
    | "getLatestIntermediate"
    | "getActiveIntermediate"
    | "getIntermediateByIdempotencyKey"
    | "insertIntermediate"
    | "appendAudit"
    | "listIntermediates"
    | "countIntermediatesSince"
    | "latestRootRotation"
    | "getTrustDomain"
  >;
  staging: Pick<StagedRotationService, "tryActivate">;
  vault: KeyVault;
  issuers: IssuerCache;
  clock: Clock;
  observer: Pick<Observer, "issuance">;
  /** Base URL for the CRL distribution point and AIA of new intermediates. */
  publicUrl?: string | undefined;
  /** Most intermediates one cluster may get in any 24 hours. */
  maxIssuancesPerClusterPerDay?: number | undefined;
};

/** Default of MESHROOT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY: far above scheduled rotation, far below Secret growth. */
export const DEFAULT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY = 24;

/** `issuance_rate_limited`, with the seconds until the cluster's window has room again (Retry-After). */
export class IssuanceRateLimited extends DomainError {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super("issuance_rate_limited", message);
  }
}

/**
 * Issuance in a fixed order: validate the request → apply the profile → enforce policy → sign →
 * commit (superseding the previous generation in the same transaction).
 */
export function issuanceService({ store, vault, issuers, staging, clock, observer, publicUrl, maxIssuancesPerClusterPerDay = DEFAULT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY }: Deps) {
  /**
   * Every generation stays in every cluster's ca-crl.pem until it expires, so a cluster that is
   * re-issued in a loop grows every Secret of its trust domain: bound it per rolling day.
   */
  async function checkRate(clusterName: string, now: Date): Promise<void> {
    const since = new Date(now.getTime() - DAY_MS);
    const count = await store.countIntermediatesSince(clusterName, since);
    if (count < maxIssuancesPerClusterPerDay) return;
    const recent = await store.listIntermediates(clusterName, { limit: maxIssuancesPerClusterPerDay });
    const oldest = recent[recent.length - 1]?.createdAt ?? now;
    const retryAfterSeconds = Math.max(1, Math.ceil((oldest.getTime() + DAY_MS - now.getTime()) / 1000));
    throw new IssuanceRateLimited(
      `cluster ${clusterName} already got ${count} intermediates in the last 24 hours (limit ${maxIssuancesPerClusterPerDay}, MESHROOT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY); retry with the same Idempotency-Key to get the one already issued, or wait ${retryAfterSeconds} s`,
      retryAfterSeconds,
    );
  }

  /** The cacerts files of an intermediate; decrypts the key only when `withKey`. */
  async function filesFor(record: IntermediateRecord, withKey: boolean, keyPem?: string, read?: RootsRead): Promise<CacertsFiles> {
    const [roots, rotation] = read ?? (await Promise.all([store.listRoots(record.trustDomain), store.latestRootRotation(record.trustDomain)]));
    const signingRoot = roots.find((r) => r.serial === record.rootSerial);
    if (!signingRoot) throw new Error(`root ${record.rootSerial} of intermediate ${record.serial} is missing`);
    if (withKey && keyPem === undefined && record.sealedKey) {
      keyPem = pkcs8Pem(await vault.open(record.sealedKey, intermediateKeyAad(record.serial)));
    }
    return cacertsFiles({
      intermediatePem: record.certPem,
      keyPem: withKey ? keyPem : undefined,
      signingRootPem: signingRoot.certPem,
      // During a root rotation the bundle depends on the phase and on which root this one chains to.
      bundlePems: bundleRoots(roots, rotation, isSwitched(rotation, record.rootSerial)).map((r) => r.certPem),
    });
  }

  return {
    /**
     * Issues a cluster's next intermediate, escrowed or from a CSR. Throws `cluster_not_found`,
     * `cluster_decommissioned`, `idempotency_key_reused`, `policy_violation`, `root_expired`,
     * `rotation_in_progress`, and the CSR errors.
     */
    async issue(clusterName: string, req: IssueRequest, ctx: AuditContext): Promise<IssueResult> {
      try {
        const made = await create(clusterName, req, ctx);
        // A staged rotation's prepared intermediate (new, replayed or asked for again) goes in
        // service only once its peers have its CRL.
        if (made.record.status === "prepared") {
          if (!made.created) checkReplay(made.record, req);
          const outcome = await staging.tryActivate(made.record, ctx);
          if ("pending" in outcome) {
            if (made.created) observer.issuance("success");
            return { record: made.record, created: made.created, pending: outcome.pending };
          }
          const files = await filesFor(outcome.activated, true, made.keyPem);
          await keyRead(outcome.activated, "cacerts.read", ctx, { activated: true });
          if (made.created) observer.issuance("success");
          return { record: outcome.activated, created: made.created, files };
        }
        // A record not created here is an earlier one for the same Idempotency-Key: replayed.
        if (!made.created) return await replay(made.record, req, ctx);
        observer.issuance("success");
        return { record: made.record, created: true, files: await filesFor(made.record, true, made.keyPem, made.roots) };
      } catch (err) {
        observer.issuance("failure");
        throw err;
      }
    },

    /**
     * Issues a cluster's next intermediate under a root rotation's new root, `prepared`: stored
     * beside the active one, in no Secret until the cluster switches to it. Escrowed, or from a
     * CSR. Throws like `issue`.
     */
    async prepare(clusterName: string, root: RootRecord, csrPem: string | undefined, ctx: AuditContext): Promise<IntermediateRecord> {
      return (await create(clusterName, { csrPem }, ctx, root)).record;
    },

    /** Generations of a cluster, newest first (`page.after` is a generation number). */
    list: (cluster: string, page: Page) => store.listIntermediates(cluster, page),

    /**
     * The files of a cluster's active intermediate, with its key. Throws `cluster_not_found`,
     * `no_active_intermediate`, `external_custody`.
     */
    async activeFiles(clusterName: string, ctx: AuditContext): Promise<{ record: IntermediateRecord; files: CacertsFiles }> {
      await requireCluster(store, clusterName);
      const record = await store.getActiveIntermediate(clusterName);
      if (!record) {
        throw new DomainError("no_active_intermediate", `cluster ${clusterName} has no active intermediate; issue one first`);
      }
      if (record.custody === "external") {
        throw new DomainError(
          "external_custody",
          `cluster ${clusterName}'s intermediate ${record.serial} has an external key: meshroot does not hold ca-key.pem, so it cannot emit the Secret`,
        );
      }
      const files = await filesFor(record, true);
      await keyRead(record, "cacerts.read", ctx, {});
      return { record, files };
    },
  };

  /**
   * The issuance steps up to the commit: the new record (and its escrowed key, to hand out once),
   * or the earlier record of the same Idempotency-Key with `created: false`. `issue` adds the
   * files and the outcome counter; `prepare` passes the rotation's new root.
   */
  async function create(
    clusterName: string,
    req: IssueRequest,
    ctx: AuditContext,
    preparedUnder?: RootRecord,
  ): Promise<{ record: IntermediateRecord; created: boolean; keyPem?: string | undefined; roots?: RootsRead }> {
    const cluster = await requireCluster(store, clusterName);
    if (cluster.decommissionedAt) {
      throw new DomainError("cluster_decommissioned", `cluster ${clusterName} is decommissioned; it gets no new intermediates`);
    }
    if (req.idempotencyKey) {
      const earlier = await store.getIntermediateByIdempotencyKey(clusterName, req.idempotencyKey);
      if (earlier) return { record: earlier, created: false };
    }
    const csr = req.csrPem !== undefined ? await verifyCsr(req.csrPem) : undefined;
    if (csr && csr.keyAlgorithm !== cluster.policy.keyAlgorithm) {
      throw new DomainError(
        "policy_violation",
        `the CSR's key is ${csr.keyAlgorithm}, but cluster ${clusterName}'s policy requires ${cluster.policy.keyAlgorithm}`,
      );
    }
    const [roots, rotation, domain, latest] = await Promise.all([
      store.listRoots(cluster.trustDomain),
      store.latestRootRotation(cluster.trustDomain),
      store.getTrustDomain(cluster.trustDomain),
      store.getLatestIntermediate(clusterName),
    ]);
    // Usually the latest generation is the active one; else (prepared, revoked) it is read.
    const active = latest?.status === "active" ? latest : await store.getActiveIntermediate(clusterName);
    // Where clusters load ca-crl.pem, a rotation is staged (staged-rotation.ts); a first issuance,
    // a revoked cluster's re-issue and a root rotation's own steps are not.
    const staged = !preparedUnder && domain?.caCrl === true && active !== undefined && !openRotation(rotation);
    // A staged rotation's prepared intermediate waits (its CRL is already out): asked for again,
    // even once the active one was revoked, it is the answer, never a second one beside it.
    if (!preparedUnder && latest?.status === "prepared" && !openRotation(rotation)) {
      return { record: samePrepared(latest, csr?.spki), created: false };
    }
    if (!preparedUnder) await checkRate(clusterName, clock.now());
    // During a root rotation the phase (and whether this cluster switched) says which root signs.
    const rootRecord = preparedUnder ?? issuingRoot(roots, rotation, isSwitched(rotation, active?.rootSerial));
    if (!rootRecord) throw new DomainError("root_expired", `trust domain ${cluster.trustDomain} has no active root`);
    const now = clock.now();
    const dates = validityWindow(cluster.policy, now, rootRecord.notAfter);
    const root = await issuers.root(rootRecord);
    const generation = (latest?.generation ?? 0) + 1;

    const escrowed = csr ? undefined : await generateKeyPairDer(cluster.policy.keyAlgorithm);
    const serial = newSerial();
    const profile = intermediateProfile(root.organization, clusterName, generation);
    const der = await encodeCaCertificate({
      profile,
      serial,
      ...dates,
      spki: csr ? csr.spki : escrowed!.spki,
      issuer: root.subjectDer,
      issuerKeyId: root.keyId,
      signer: root.signer,
      ...(publicUrl
        ? {
            // The first root's CRL is the trust domain's CRL URL; a later root (rotation) has its own.
            crlUrl:
              rootRecord.generation === 1
                ? `${publicUrl}/v1/trust-domains/${cluster.trustDomain}/crl`
                : `${publicUrl}/v1/trust-domains/${cluster.trustDomain}/roots/${rootRecord.serial}/crl`,
            caIssuersUrl: `${publicUrl}/v1/trust-domains/${cluster.trustDomain}/roots/${rootRecord.serial}/certificate`,
          }
        : {}),
    });
    const pkcs8 = escrowed?.pkcs8;
    const record: IntermediateRecord = {
      serial,
      cluster: clusterName,
      trustDomain: cluster.trustDomain,
      rootSerial: rootRecord.serial,
      generation,
      status: preparedUnder || staged ? "prepared" : "active",
      custody: csr ? "external" : "escrowed",
      keyAlgorithm: cluster.policy.keyAlgorithm,
      certPem: toPem(der, "CERTIFICATE"),
      sealedKey: pkcs8 ? await vault.seal(pkcs8, intermediateKeyAad(serial)) : null,
      fingerprintSha256: createHash("sha256").update(der).digest("hex"),
      notBefore: dates.notBefore,
      notAfter: dates.notAfter,
      rotateAfter: dates.rotateAfter,
      supersedes: preparedUnder || staged ? null : (active?.serial ?? null),
      supersededBy: null,
      revokedAt: null,
      revocationReason: null,
      idempotencyKey: req.idempotencyKey ?? null,
      requestHash: req.requestHash ?? null,
      createdAt: now,
      subject: subjectText(profile.subject),
      keyId: keyIdentifier(csr ? csr.spki : escrowed!.spki),
    };
    const result = await store.insertIntermediate(
      record,
      auditInput(ctx, now, record.status === "prepared" ? "intermediate.prepare" : record.supersedes ? "intermediate.rotate" : "intermediate.issue", { type: "intermediate", id: serial }, record, {
        generation,
        custody: record.custody,
        keyAlgorithm: record.keyAlgorithm,
        notAfter: record.notAfter.toISOString(),
        supersedes: record.supersedes,
        idempotencyKey: record.idempotencyKey,
        keyReturned: record.status === "active" && record.custody === "escrowed",
        ...(staged ? { staged: true, replaces: active!.serial } : {}),
      }),
    );
    if (result.created && escrowed) {
      // Its first CRL (signed by the rotation run or the next cacerts?crl=true) needs no import of the sealed key.
      issuers.seedIntermediate(serial, { subjectDer: subjectAndSpki(der).subjectDer, keyId: record.keyId!, signer: keyObjectSigner(escrowed.privateKey, record.keyAlgorithm, escrowed.spki) });
    }
    // The roots as this issuance read them: its Secret's bundle needs no second read.
    return { ...result, keyPem: pkcs8 ? pkcs8Pem(pkcs8) : undefined, roots: [roots, rotation] };
  }

  /**
   * A cluster's waiting prepared intermediate (a staged rotation's), asked for again: escrowed, or
   * a CSR for the same key, it is that one; another key is refused.
   */
  function samePrepared(latest: IntermediateRecord, csrSpki: Uint8Array | undefined): IntermediateRecord {
    const clusterName = latest.cluster;
    const same = csrSpki ? latest.custody === "external" && latest.keyId === keyIdentifier(csrSpki) : latest.custody === "escrowed";
    if (!same) {
      throw new DomainError(
        "activation_pending",
        `cluster ${clusterName}'s next intermediate ${latest.serial} (${latest.custody} key) is prepared and waits for its peers; activate it (POST /v1/clusters/${clusterName}/intermediates/${latest.serial}/activate, force with a reason if need be) before asking for another`,
      );
    }
    return latest;
  }

  /** Records a read of an escrowed key (cacerts, idempotent replay) in the audit trail. */
  function keyRead(record: IntermediateRecord, action: string, ctx: AuditContext, details: Record<string, unknown>) {
    if (record.custody !== "escrowed") return Promise.resolve();
    return store.appendAudit(auditInput(ctx, clock.now(), action, { type: "intermediate", id: record.serial }, record, { generation: record.generation, keyReturned: true, ...details }));
  }

  /** Refuses an Idempotency-Key replayed with a different request. */
  function checkReplay(earlier: IntermediateRecord, req: IssueRequest): void {
    if (req.idempotencyKey !== undefined && earlier.idempotencyKey === req.idempotencyKey && earlier.requestHash !== (req.requestHash ?? null)) {
      throw new DomainError(
        "idempotency_key_reused",
        `Idempotency-Key ${req.idempotencyKey} was already used for a different request on cluster ${earlier.cluster}`,
      );
    }
  }

  async function replay(earlier: IntermediateRecord, req: IssueRequest, ctx: AuditContext): Promise<IssueResult> {
    checkReplay(earlier, req);
    if (earlier.status === "revoked") {
      // Whatever the reason, the CA no longer vouches for a revoked intermediate: its key is
      // never handed out again (for keyCompromise it may be in an attacker's hands already).
      await store.appendAudit(
        auditInput(ctx, clock.now(), "intermediate.replay_refused", { type: "intermediate", id: earlier.serial }, earlier, {
          generation: earlier.generation,
          idempotencyKey: req.idempotencyKey ?? null,
          revocationReason: earlier.revocationReason,
          keyReturned: false,
        }, "denied"),
      );
      throw new DomainError(
        "intermediate_revoked",
        `Idempotency-Key ${req.idempotencyKey} belongs to intermediate ${earlier.serial}, revoked at ${earlier.revokedAt?.toISOString()} (${earlier.revocationReason}); issue a new one with a new Idempotency-Key`,
      );
    }
    const files = await filesFor(earlier, true);
    await keyRead(earlier, "intermediate.replay", ctx, { idempotencyKey: req.idempotencyKey ?? null });
    return { record: earlier, created: false, files };
  }
}

export type IssuanceService = ReturnType<typeof issuanceService>;

/**
 * notBefore (backdated one minute), notAfter (validity, clamped to the root's notAfter) and
 * rotateAfter (renew-before ahead of notAfter: one third of the validity by default; shrunk in
 * proportion when the root's expiry clamps the lifetime). Throws `root_expired` when the root
 * has under a day left.
 */
export function validityWindow(
  policy: ClusterPolicy,
  now: Date,
  rootNotAfter: Date,
): { notBefore: Date; notAfter: Date; rotateAfter: Date } {
  // X.509 times have whole seconds; the record must hold exactly what the certificate says.
  const t = Math.floor(now.getTime() / 1000) * 1000;
  const policyLife = policy.validityDays * DAY_MS;
  const notAfterMs = Math.min(t + policyLife, Math.floor(rootNotAfter.getTime() / 1000) * 1000);
  if (notAfterMs - now.getTime() < DAY_MS) {
    throw new DomainError("root_expired", `the root expires at ${rootNotAfter.toISOString()}: too soon to issue under it`);
  }
  const renewBefore = (policy.renewBeforeDays ?? policy.validityDays / 3) * DAY_MS;
  const scale = Math.min(1, (notAfterMs - t) / policyLife);
  return {
    notBefore: new Date(t - BACKDATE_MS),
    notAfter: new Date(notAfterMs),
    rotateAfter: new Date(notAfterMs - Math.round(renewBefore * scale)),
  };
}
