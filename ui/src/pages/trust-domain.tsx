import { ApiError, enc, getAll, getBytes, getJson } from "../api.js";
import { CrlBadge, ErrorBox, Loading, Section, StatusBadge, TrustBadge, useLoad, When } from "../components/common.js";
import { Timeline } from "../components/timeline.js";
import { crlInfo } from "../crl.js";
import { day, relative, shortFp, stamp, worstFirst } from "../format.js";
import type { FleetEntry, TrustDomain } from "../types.js";
import { RootRotationSection } from "./root-rotation.js";

export function TrustDomainPage({ name, now }: { name: string; now: number }) {
  const domain = useLoad(() => getJson<TrustDomain>(`/v1/trust-domains/${enc(name)}`), [name]);
  const crl = useLoad(async () => crlInfo(await getBytes(`/v1/trust-domains/${enc(name)}/crl`)), [name]);
  const clusters = useLoad(() => getAll<FleetEntry>(`/v1/fleet?trustDomain=${enc(name)}`), [name]);

  if (domain.error) return <ErrorBox error={domain.error} what={`trust domain ${name}`} />;
  if (!domain.data) return <Loading what={`trust domain ${name}`} />;
  const d = domain.data;
  return (
    <>
      <h1>Trust domain {d.name}</h1>
      <p class="lede">
        Organization {d.organization}; created {stamp(d.createdAt)}. Trust bundle: <a href={`/v1/trust-domains/${enc(d.name)}/bundle`}>root-cert.pem</a>.{" "}
        {d.caCrl
          ? "Its clusters load ca-crl.pem: rotations are staged (a new intermediate goes in service once every peer loaded its CRL)."
          : "Rotations take one step (its clusters are not declared to load ca-crl.pem)."}
      </p>
      <Section title="Roots" id="roots">
        <Timeline
          rows={d.roots.map((r) => ({ key: r.serial, label: `root g${r.generation}`, windows: [{ from: Date.parse(r.notBefore), to: Date.parse(r.notAfter), status: r.status === "active" || r.status === "prepared" ? r.status : r.status === "revoked" ? "revoked" : "superseded", label: `g${r.generation} ${r.status}` }] }))}
          marks={[]}
          now={now}
          caption={`Validity of ${d.name}'s roots`}
        />
        <table>
          <thead>
            <tr>
              <th class="num">Gen.</th>
              <th>Status</th>
              <th>Subject</th>
              <th>Key</th>
              <th>Not before</th>
              <th>Not after</th>
              <th>Fingerprint (SHA-256)</th>
            </tr>
          </thead>
          <tbody>
            {d.roots.map((r) => (
              <tr key={r.serial}>
                <td class="num">{r.generation}</td>
                <td>
                  <span class={`badge root-${r.status}`}>{r.status}</span>
                  {r.imported ? <div class="sub">imported</div> : null}
                </td>
                <td>{r.subject}</td>
                <td>
                  {r.keyAlgorithm}
                  <div class="sub">{r.keyStorage === "pkcs11" ? "in the HSM" : "sealed in the database"}</div>
                </td>
                <td>{day(r.notBefore)}</td>
                <td>
                  {day(r.notAfter)} <span class="muted">({relative(r.notAfter, now)})</span>
                </td>
                <td>
                  <code title={r.fingerprintSha256}>{shortFp(r.fingerprintSha256)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title="Root CRL" id="crl">
        {crl.error ? (
          <ErrorBox error={crl.error instanceof ApiError ? crl.error : new ApiError(0, "invalid_crl", String(crl.error))} what="the root CRL" />
        ) : !crl.data ? (
          <Loading what="the root CRL" />
        ) : (
          <p>
            <CrlBadge nextUpdate={crl.data.nextUpdate} now={now} /> this update {stamp(crl.data.thisUpdate)}, next update{" "}
            <When iso={crl.data.nextUpdate} text={relative(crl.data.nextUpdate, now)} />; {crl.data.revokedCount} revoked intermediates.{" "}
            <a href={`/v1/trust-domains/${enc(d.name)}/crl?format=pem`}>Download (PEM)</a>
          </p>
        )}
      </Section>
      <Section title="Root rotation" id="root-rotation">
        <RootRotationSection name={d.name} now={now} />
      </Section>
      <Section title="Clusters" id="clusters">
        {clusters.error ? (
          <ErrorBox error={clusters.error} what="clusters" />
        ) : !clusters.data ? (
          <Loading what="clusters" />
        ) : clusters.data.length === 0 ? (
          <p class="muted">No cluster in this trust domain.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Cluster</th>
                <th>Status</th>
                <th class="num">Gen.</th>
                <th>Expires</th>
                <th>Trust state</th>
                <th>Last observation</th>
              </tr>
            </thead>
            <tbody>
              {[...clusters.data].sort(worstFirst).map((e) => (
                <tr key={e.name}>
                  <td>
                    <a href={`#/clusters/${enc(e.name)}`}>{e.name}</a>
                  </td>
                  <td>
                    <StatusBadge status={e.status} />
                  </td>
                  <td class="num">{e.generation ?? "—"}</td>
                  <td>
                    <When iso={e.notAfter} text={relative(e.notAfter, now)} />
                  </td>
                  <td>
                    <TrustBadge state={e.trust.state} /> {e.trust.reasons.map((r) => r.code).join(", ")}
                  </td>
                  <td>
                    <When iso={e.lastObservedAt} text={relative(e.lastObservedAt, now)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}
