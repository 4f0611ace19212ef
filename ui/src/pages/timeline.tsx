import { useMemo, useState } from "preact/hooks";
import { ApiError, enc, getAll, getBytes } from "../api.js";
import { CrlBadge, ErrorBox, Loading, Section, useLoad, When } from "../components/common.js";
import { Timeline, type Mark, type Row, type Window } from "../components/timeline.js";
import { crlInfo, type CrlInfo } from "../crl.js";
import { relative, stamp, worstFirst } from "../format.js";
import type { FleetEntry, Intermediate, TrustDomain } from "../types.js";

const MAX_ROWS = 60;

/** Validity windows of a cluster's generations, oldest first. */
export function windowsOf(gens: Intermediate[]): Window[] {
  return [...gens]
    .sort((a, b) => a.generation - b.generation)
    .map((g) => ({ from: Date.parse(g.notBefore), to: Date.parse(g.notAfter), rotateAfter: Date.parse(g.rotateAfter), status: g.status, label: `gen ${g.generation}` }));
}

/** The dashed lines: when each root of the shown trust domains expires. */
export function rootMarks(domains: TrustDomain[]): Mark[] {
  return domains.flatMap((d) => d.roots.filter((r) => r.status !== "retired" && r.status !== "revoked").map((r) => ({ at: Date.parse(r.notAfter), label: `root ${d.name} g${r.generation} expires` })));
}

interface Picture {
  fleet: FleetEntry[];
  domains: TrustDomain[];
  /** Every intermediate, when the token may read the inventory (auditor or admin). */
  inventory: Intermediate[] | ApiError;
  rootCrls: Map<string, CrlInfo | ApiError>;
}

async function loadPicture(): Promise<Picture> {
  const [fleet, domains, inventory] = await Promise.all([
    getAll<FleetEntry>("/v1/fleet"),
    getAll<TrustDomain>("/v1/trust-domains"),
    getAll<Intermediate>("/v1/certificates").catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 403) return err;
      throw err;
    }),
  ]);
  const rootCrls = new Map<string, CrlInfo | ApiError>();
  await Promise.all(
    domains.map(async (d) => {
      try {
        rootCrls.set(d.name, crlInfo(await getBytes(`/v1/trust-domains/${enc(d.name)}/crl`)));
      } catch (err) {
        rootCrls.set(d.name, err instanceof ApiError ? err : new ApiError(0, "invalid_crl", String(err)));
      }
    }),
  );
  return { fleet, domains, inventory, rootCrls };
}

/** The picture: validity windows per cluster against today and the roots' expiry, and CRL freshness. */
export function TimelinePage({ now }: { now: number }) {
  const pic = useLoad(loadPicture, []);
  const [td, setTd] = useState("");
  const [query, setQuery] = useState("");
  const rows = useMemo(() => {
    if (!pic.data) return [];
    const { fleet, inventory } = pic.data;
    const byCluster = new Map<string, Intermediate[]>();
    if (Array.isArray(inventory)) for (const i of inventory) byCluster.set(i.cluster, [...(byCluster.get(i.cluster) ?? []), i]);
    return [...fleet].sort(worstFirst).map((e): Row & { td: string } => ({
      key: e.name,
      td: e.trustDomain,
      label: `${e.name} (${e.trust.state})`,
      href: `#/clusters/${enc(e.name)}`,
      windows: Array.isArray(inventory)
        ? windowsOf(byCluster.get(e.name) ?? [])
        : e.notAfter
          ? [{ from: now, to: Date.parse(e.notAfter), rotateAfter: e.rotateAfter ? Date.parse(e.rotateAfter) : undefined, status: "active", label: `gen ${e.generation}` } as Window]
          : [],
    }));
  }, [pic.data, now]);

  if (pic.error) return <ErrorBox error={pic.error} what="the timeline" />;
  if (!pic.data) return <Loading what="validity windows" />;
  const { fleet, domains, inventory, rootCrls } = pic.data;
  const q = query.trim().toLowerCase();
  const matching = rows.filter((r) => (!td || r.td === td) && (!q || r.key.includes(q)));
  const shownDomains = domains.filter((d) => !td || d.name === td);
  return (
    <>
      <h1>Timeline</h1>
      <div class="filters">
        <label>
          Trust domain{" "}
          <select value={td} onChange={(e) => setTd((e.target as HTMLSelectElement).value)}>
            <option value="">all</option>
            {domains.map((d) => (
              <option key={d.name} value={d.name}>{d.name}</option>
            ))}
          </select>
        </label>
        <label>
          Cluster{" "}
          <input type="search" value={query} placeholder="name…" onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
        </label>
        <span class="muted">
          {matching.length > MAX_ROWS ? `the ${MAX_ROWS} worst of ${matching.length} clusters shown; filter to see others` : `${matching.length} clusters`}
        </span>
      </div>
      {inventory instanceof ApiError ? (
        <p class="note">Only the active generations are drawn (from today to expiry): this token may not read the inventory of every generation ({inventory.detail}).</p>
      ) : null}
      <Section title="Validity windows per cluster">
        <Timeline rows={matching.slice(0, MAX_ROWS)} marks={rootMarks(shownDomains)} now={now} caption="Intermediate validity windows per cluster, worst trust state first" />
      </Section>
      <Section title="CRL freshness per issuer">
        <p class="muted">
          The roots' CRLs as meshroot serves them, and the earliest nextUpdate among the CRLs each cluster reported loading (a cluster's page lists every issuer it loaded).
        </p>
        <table class="crl">
          <thead>
            <tr>
              <th>Issuer</th>
              <th>This update</th>
              <th>Next update</th>
              <th>Freshness</th>
              <th class="num">Revoked</th>
            </tr>
          </thead>
          <tbody>
            {shownDomains.map((d) => {
              const info = rootCrls.get(d.name);
              return (
                <tr key={d.name}>
                  <td>
                    root of <a href={`#/trust-domains/${enc(d.name)}`}>{d.name}</a> (served)
                  </td>
                  {info instanceof ApiError || !info ? (
                    <td colSpan={4} class="warn">{info?.detail ?? "not loaded"}</td>
                  ) : (
                    <>
                      <td>{stamp(info.thisUpdate)}</td>
                      <td>
                        <When iso={info.nextUpdate} text={relative(info.nextUpdate, now)} />
                      </td>
                      <td>
                        <CrlBadge nextUpdate={info.nextUpdate} now={now} />
                      </td>
                      <td class="num">{info.revokedCount}</td>
                    </>
                  )}
                </tr>
              );
            })}
            {[...fleet]
              .filter((e) => (!td || e.trustDomain === td) && (!q || e.name.includes(q)) && e.crlNextUpdate)
              .sort((a, b) => Date.parse(a.crlNextUpdate!) - Date.parse(b.crlNextUpdate!))
              .slice(0, MAX_ROWS)
              .map((e) => (
                <tr key={e.name}>
                  <td>
                    CRLs loaded by <a href={`#/clusters/${enc(e.name)}`}>{e.name}</a> (earliest)
                  </td>
                  <td class="muted">—</td>
                  <td>
                    <When iso={e.crlNextUpdate} text={relative(e.crlNextUpdate, now)} />
                  </td>
                  <td>
                    <CrlBadge nextUpdate={e.crlNextUpdate} now={now} />
                  </td>
                  <td class="num muted">—</td>
                </tr>
              ))}
          </tbody>
        </table>
      </Section>
    </>
  );
}
