import { ApiError, enc, getAll, getJson } from "../api.js";
import { CrlBadge, ErrorBox, Loading, ReasonList, Section, StatusBadge, TrustBadge, useLoad, When } from "../components/common.js";
import { Timeline } from "../components/timeline.js";
import { day, duration, relative, shortFp, stamp } from "../format.js";
import type { AuditEvent, Cluster, FleetEntry, Intermediate, ObservationView, TrustDomain } from "../types.js";
import { AuditTable } from "./audit.js";
import { rootMarks, windowsOf } from "./timeline.js";

/** The cluster's fleet entry with desired and observed state; from a server without that route, the fleet entry alone. */
async function loadState(name: string): Promise<{ entry: FleetEntry; view: ObservationView | null }> {
  try {
    const view = await getJson<ObservationView>(`/v1/clusters/${enc(name)}/observation`);
    return { entry: view, view };
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== "route_not_found") throw err;
  }
  const cluster = await getJson<Cluster>(`/v1/clusters/${enc(name)}`);
  const entries = await getAll<FleetEntry>(`/v1/fleet?trustDomain=${enc(cluster.trustDomain)}`);
  const entry = entries.find((e) => e.name === name);
  if (!entry) throw new ApiError(404, "cluster_not_found", `cluster ${name} is not in the fleet`);
  return { entry, view: null };
}

export function ClusterPage({ name, now }: { name: string; now: number }) {
  const state = useLoad(() => loadState(name), [name]);
  const gens = useLoad(() => getAll<Intermediate>(`/v1/clusters/${enc(name)}/intermediates`), [name]);
  const domain = useLoad(async () => (state.data ? getJson<TrustDomain>(`/v1/trust-domains/${enc(state.data.entry.trustDomain)}`) : undefined), [state.data]);
  const audit = useLoad(() => getJson<{ items: AuditEvent[] }>(`/v1/audit?cluster=${enc(name)}&limit=100`), [name]);

  if (state.error) return <ErrorBox error={state.error} what={`cluster ${name}`} />;
  if (!state.data) return <Loading what={`cluster ${name}`} />;
  const { entry: e, view } = state.data;
  return (
    <>
      <h1>
        Cluster {e.name} <StatusBadge status={e.status} /> <TrustBadge state={e.trust.state} />
      </h1>
      <p class="lede">
        Trust domain <a href={`#/trust-domains/${enc(e.trustDomain)}`}>{e.trustDomain}</a>; generation {e.generation ?? "—"}, expires{" "}
        <When iso={e.notAfter} text={relative(e.notAfter, now)} />, rotates <When iso={e.rotateAfter} text={relative(e.rotateAfter, now)} />; last observation{" "}
        <When iso={e.lastObservedAt} text={e.observationAgeSeconds === null ? "never" : `${duration(e.observationAgeSeconds * 1000)} ago`} />
        {e.istioVersion ? ` (Istio ${e.istioVersion})` : ""}.
        {Object.keys(e.labels).length ? (
          <span class="labels">
            {" "}
            Labels: {Object.entries(e.labels).map(([k, v]) => <code key={k}>{k}={v}</code>)}
          </span>
        ) : null}
      </p>
      <Section title="Trust state" id="trust">
        <p>
          <TrustBadge state={e.trust.state} />
        </p>
        <ReasonList reasons={e.trust.reasons} />
      </Section>
      <Section title="Desired vs observed" id="diff">
        {view ? <Diff view={view} now={now} /> : <p class="note">This server does not answer GET /v1/clusters/{"{name}"}/observation: only the reasons above are known.</p>}
      </Section>
      <Section title="Generations" id="generations">
        {gens.error ? <ErrorBox error={gens.error} what="generations" /> : !gens.data ? <Loading what="generations" /> : <Generations gens={gens.data} name={name} domain={domain.data} now={now} />}
      </Section>
      <Section title="Audit events" id="audit">
        {audit.error ? <ErrorBox error={audit.error} what="audit events" /> : !audit.data ? <Loading what="audit events" /> : <AuditTable events={audit.data.items} />}
      </Section>
    </>
  );
}

/** Up to this many needed CRL issuers are listed one by one. */
const ISSUERS_LISTED = 30;

function Mark({ ok, text }: { ok: boolean; text?: string }) {
  return <span class={ok ? "ok" : "bad"}>{ok ? "✓ " : "✕ "}{text ?? (ok ? "matches" : "differs")}</span>;
}

function Diff({ view, now }: { view: ObservationView; now: number }) {
  const { desired, observed } = view;
  if (!observed) return <p class="note">Never observed: the cluster has not reported what its Istio loaded (PUT /v1/clusters/{"{name}"}/observation, or meshroot observe).</p>;
  const loaded = new Set(observed.roots.map((r) => r.fingerprintSha256));
  const wanted = new Set(desired.roots.map((r) => r.fingerprintSha256));
  const missingIssuers = new Set(view.trust.reasons.flatMap((r) => (r.code === "crl_missing_issuer" ? (r.issuers ?? []).map((i) => i.serial) : [])));
  const missingCount = view.trust.reasons.reduce((n, r) => n + (r.code === "crl_missing_issuer" ? (r.issuerCount ?? r.issuers?.length ?? 0) : 0), 0);
  const signingOk = !!observed.caCert && observed.caCert.fingerprintSha256 === desired.activeIntermediate?.fingerprintSha256;
  return (
    <>
      <p class="muted">
        Observed {stamp(observed.observedAt)} from {observed.source}
        {observed.multiRoot !== null ? `; ISTIO_MULTIROOT_MESH ${observed.multiRoot ? "on" : "off"}` : ""}
        {observed.ambient !== null ? `; ambient ${observed.ambient ? "on" : "off"}` : ""}.
      </p>
      <h3>Roots (root-cert.pem)</h3>
      <table class="diff">
        <thead>
          <tr>
            <th>Root</th>
            <th>Fingerprint (SHA-256)</th>
            <th>Desired</th>
            <th>Observed</th>
          </tr>
        </thead>
        <tbody>
          {desired.roots.map((r) => (
            <tr key={r.fingerprintSha256}>
              <td>{r.subject}</td>
              <td>
                <code title={r.fingerprintSha256}>{shortFp(r.fingerprintSha256)}</code>
              </td>
              <td>✓ in bundle</td>
              <td>{loaded.has(r.fingerprintSha256) ? <Mark ok text="loaded" /> : <Mark ok={false} text="missing" />}</td>
            </tr>
          ))}
          {observed.roots
            .filter((r) => !wanted.has(r.fingerprintSha256))
            .map((r) => (
              <tr key={r.fingerprintSha256}>
                <td>{r.subject}</td>
                <td>
                  <code title={r.fingerprintSha256}>{shortFp(r.fingerprintSha256)}</code>
                </td>
                <td>– not desired</td>
                <td>
                  <Mark ok={false} text="unexpected" />
                </td>
              </tr>
            ))}
        </tbody>
      </table>
      <h3>Signing intermediate (istiod's ca-cert.pem)</h3>
      <table class="diff">
        <thead>
          <tr>
            <th></th>
            <th>Subject</th>
            <th>Fingerprint (SHA-256)</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <td>desired (active)</td>
            <td>{desired.activeIntermediate?.subject ?? "none issued"}</td>
            <td>
              <code title={desired.activeIntermediate?.fingerprintSha256}>{shortFp(desired.activeIntermediate?.fingerprintSha256)}</code>
            </td>
          </tr>
          <tr>
            <td>observed</td>
            <td>{observed.caCert?.subject ?? "not reported"}</td>
            <td>
              <code title={observed.caCert?.fingerprintSha256}>{shortFp(observed.caCert?.fingerprintSha256)}</code>{" "}
              {observed.caCert ? <Mark ok={signingOk} /> : null}
            </td>
          </tr>
        </tbody>
      </table>
      <h3>CRLs (ca-crl.pem)</h3>
      <p>
        The fleet needs a CRL from {desired.crlIssuers.length} issuers (every trusted root and every live intermediate of the trust domain):{" "}
        {observed.crls === null ? (
          "not reported"
        ) : missingCount === 0 ? (
          <Mark ok text="all loaded" />
        ) : (
          <Mark ok={false} text={`${missingCount} missing (see the reasons above)`} />
        )}
      </p>
      {desired.crlIssuers.length <= ISSUERS_LISTED ? (
        <p>
          {desired.crlIssuers.map((i) => (
            <span key={i.serial} class="issuer">
              <code title={i.serial}>
                {i.kind} {i.cluster ?? ""} {i.serial.slice(0, 12)}
              </code>{" "}
              {missingIssuers.has(i.serial) ? <Mark ok={false} text="missing" /> : observed.crls ? <Mark ok text="loaded" /> : null}{" "}
            </span>
          ))}
        </p>
      ) : null}
      {observed.crls === null ? (
        <p class="note">The cluster reported no ca-crl.pem.</p>
      ) : (
        <table class="crl">
          <thead>
            <tr>
              <th>Issuer (loaded)</th>
              <th>This update</th>
              <th>Next update</th>
              <th>Freshness</th>
              <th class="num">Revoked</th>
            </tr>
          </thead>
          <tbody>
            {observed.crls.map((c, i) => (
              <tr key={i}>
                <td>{c.issuer}</td>
                <td>{stamp(c.thisUpdate)}</td>
                <td>
                  <When iso={c.nextUpdate} text={relative(c.nextUpdate, now)} />
                </td>
                <td>
                  <CrlBadge nextUpdate={c.nextUpdate} now={now} />
                </td>
                <td class="num">{c.revoked}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function Generations({ gens, name, domain, now }: { gens: Intermediate[]; name: string; domain: TrustDomain | undefined; now: number }) {
  if (gens.length === 0) return <p class="muted">No intermediate issued yet.</p>;
  return (
    <>
      <Timeline rows={[{ key: name, label: name, windows: windowsOf(gens) }]} marks={domain ? rootMarks([domain]) : []} now={now} caption={`Validity windows of ${name}'s generations`} />
      <table>
        <thead>
          <tr>
            <th class="num">Gen.</th>
            <th>Status</th>
            <th>Serial</th>
            <th>Custody</th>
            <th>Not before</th>
            <th>Not after</th>
            <th>Rotate after</th>
            <th>Fingerprint</th>
          </tr>
        </thead>
        <tbody>
          {gens.map((g) => (
            <tr key={g.serial}>
              <td class="num">{g.generation}</td>
              <td>
                <span class={`badge gen-${g.status}`}>{g.status}</span>
                {g.revocationReason ? <div class="sub">{g.revocationReason}</div> : null}
              </td>
              <td>
                <code title={g.serial}>{g.serial.slice(0, 16)}</code>
              </td>
              <td>{g.custody}</td>
              <td title={stamp(g.notBefore)}>{day(g.notBefore)}</td>
              <td title={stamp(g.notAfter)}>
                {day(g.notAfter)} <span class="muted">({relative(g.notAfter, now)})</span>
              </td>
              <td title={stamp(g.rotateAfter)}>{day(g.rotateAfter)}</td>
              <td>
                <code title={g.fingerprintSha256}>{shortFp(g.fingerprintSha256)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
