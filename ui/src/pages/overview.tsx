import { useMemo, useState } from "preact/hooks";
import { enc, getAll, takeFirstFleetPage } from "../api.js";
import { ErrorBox, Loading, ReasonList, StatusBadge, TrustBadge, useLoad, When } from "../components/common.js";
import { duration, relative, TRUST_ORDER, worstFirst } from "../format.js";
import type { FleetEntry, TrustState } from "../types.js";

/** Every cluster of every trust domain, worst first, with counts, filters and a search. */
export function Overview({ now }: { now: number }) {
  const [generation, setGeneration] = useState(0);
  const fleet = useLoad(() => getAll<FleetEntry>("/v1/fleet", 500, takeFirstFleetPage<FleetEntry>()), [generation]);
  const [td, setTd] = useState("");
  const [state, setState] = useState<TrustState | "">("");
  const [query, setQuery] = useState("");
  const all = fleet.data;
  const sorted = useMemo(() => (all ? [...all].sort(worstFirst) : []), [all]);
  const domains = useMemo(() => [...new Set(sorted.map((e) => e.trustDomain))].sort(), [sorted]);
  const counts = useMemo(() => {
    const c: Record<TrustState, number> = { drift: 0, stale: 0, unknown: 0, converged: 0 };
    for (const e of sorted) if (!td || e.trustDomain === td) c[e.trust.state] += 1;
    return c;
  }, [sorted, td]);
  const q = query.trim().toLowerCase();
  const shown = sorted.filter(
    (e) =>
      (!td || e.trustDomain === td) &&
      (!state || e.trust.state === state) &&
      (!q ||
        e.name.includes(q) ||
        e.trustDomain.includes(q) ||
        e.status.includes(q) ||
        Object.entries(e.labels).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(q)) ||
        e.trust.reasons.some((r) => r.code.includes(q) || r.detail.toLowerCase().includes(q))),
  );

  if (fleet.error) return <ErrorBox error={fleet.error} what="the fleet" />;
  if (!all) return <Loading what="the fleet" />;
  return (
    <>
      <h1>Fleet</h1>
      <div class="counts" role="group" aria-label="clusters per trust state">
        {TRUST_ORDER.map((s) => (
          <button
            type="button"
            key={s}
            class={`count trust-${s}${state === s ? " selected" : ""}`}
            aria-pressed={state === s}
            data-count={s}
            onClick={() => setState(state === s ? "" : s)}
          >
            <span class="n">{counts[s]}</span> <TrustBadge state={s} />
          </button>
        ))}
        <span class="total">
          {all.length} {all.length === 1 ? "cluster" : "clusters"} in {domains.length} {domains.length === 1 ? "trust domain" : "trust domains"}
        </span>
      </div>
      <div class="filters">
        <label>
          Trust domain{" "}
          <select value={td} onChange={(e) => setTd((e.target as HTMLSelectElement).value)} name="trustDomain">
            <option value="">all</option>
            {domains.map((d) => (
              <option key={d} value={d}>{d}</option>
            ))}
          </select>
        </label>
        <label>
          Trust state{" "}
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value as TrustState | "")} name="state">
            <option value="">all</option>
            {TRUST_ORDER.map((s) => (
              <option key={s} value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Search{" "}
          <input type="search" value={query} placeholder="name, label, reason…" onInput={(e) => setQuery((e.target as HTMLInputElement).value)} name="q" />
        </label>
        <span class="muted">{shown.length} shown</span>
        <button type="button" class="refresh" onClick={() => setGeneration(generation + 1)} disabled={fleet.loading} title="Read the fleet again">
          {fleet.loading ? "Refreshing…" : "↻ Refresh"}
        </button>
      </div>
      <table class="fleet" id="fleet-table" data-complete="true" data-total={all.length}>
        <thead>
          <tr>
            <th>Cluster</th>
            <th>Trust domain</th>
            <th>Status</th>
            <th class="num">Gen.</th>
            <th>Expires</th>
            <th>Rotates</th>
            <th>Trust state and why</th>
            <th>Last observation</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((e) => (
            <FleetRow key={e.name} e={e} now={now} />
          ))}
        </tbody>
      </table>
      {shown.length === 0 ? <p class="muted">No cluster matches.</p> : null}
    </>
  );
}

function FleetRow({ e, now }: { e: FleetEntry; now: number }) {
  const rotateLeft = e.rotateAfter ? Date.parse(e.rotateAfter) - now : null;
  return (
    <tr data-cluster={e.name} data-trust={e.trust.state}>
      <td>
        <a href={`#/clusters/${enc(e.name)}`}>{e.name}</a>
      </td>
      <td>
        <a href={`#/trust-domains/${enc(e.trustDomain)}`}>{e.trustDomain}</a>
      </td>
      <td>
        <StatusBadge status={e.status} />
      </td>
      <td class="num">{e.generation ?? "—"}</td>
      <td>
        <When iso={e.notAfter} text={relative(e.notAfter, now)} />
      </td>
      <td>
        {rotateLeft !== null && rotateLeft <= 0 ? (
          <span class="warn" title={e.rotateAfter!}>due {duration(rotateLeft)} ago</span>
        ) : (
          <When iso={e.rotateAfter} text={relative(e.rotateAfter, now)} />
        )}
      </td>
      <td class="trust">
        <TrustBadge state={e.trust.state} />
        {e.trust.state !== "converged" ? <ReasonList reasons={e.trust.reasons} compact /> : null}
      </td>
      <td>
        <When iso={e.lastObservedAt} text={e.observationAgeSeconds === null ? "never" : `${duration(e.observationAgeSeconds * 1000)} ago`} />
        {e.istioVersion ? <div class="sub">Istio {e.istioVersion}</div> : null}
      </td>
    </tr>
  );
}
