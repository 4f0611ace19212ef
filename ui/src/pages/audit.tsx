import { useEffect, useState } from "preact/hooks";
import { enc, getJson, type Page } from "../api.js";
import { ErrorBox, Loading, Section } from "../components/common.js";
import { stamp } from "../format.js";
import type { AuditEvent, AuditVerdict } from "../types.js";

export function AuditTable({ events }: { events: AuditEvent[] }) {
  if (events.length === 0) return <p class="muted">No audit events.</p>;
  return (
    <table class="audit">
      <thead>
        <tr>
          <th class="num">Seq</th>
          <th>At</th>
          <th>Actor</th>
          <th>Action</th>
          <th>Target</th>
          <th>Cluster / trust domain</th>
          <th>Outcome</th>
          <th>Details</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.seq} data-seq={e.seq}>
            <td class="num">{e.seq}</td>
            <td class="nowrap">{stamp(e.at)}</td>
            <td title={`${e.actor.type} ${e.actor.id}`}>{e.actor.name || e.actor.id}</td>
            <td>
              <code>{e.action}</code>
            </td>
            <td>
              {e.target.type} <code>{e.target.id.slice(0, 20)}</code>
            </td>
            <td>{[e.cluster, e.trustDomain].filter(Boolean).join(" / ") || "—"}</td>
            <td>
              <span class={`badge outcome-${e.outcome}`}>{e.outcome === "success" ? "✓" : "✕"} {e.outcome}</span>
            </td>
            <td>
              {Object.keys(e.details).length ? (
                <details>
                  <summary>{Object.keys(e.details).slice(0, 3).join(", ")}</summary>
                  <pre>{JSON.stringify(e.details, null, 2)}</pre>
                </details>
              ) : (
                <span class="muted">—</span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const FIELDS = ["action", "actor", "cluster", "trustDomain", "outcome", "since", "until"] as const;
type Filter = Partial<Record<(typeof FIELDS)[number], string>>;

function query(f: Filter, cursor: string | null): string {
  const q = FIELDS.filter((k) => f[k]).map((k) => `${k}=${enc(f[k]!)}`);
  if (cursor) q.push(`cursor=${enc(cursor)}`);
  return `/v1/audit?limit=100${q.length ? "&" + q.join("&") : ""}`;
}

/** The audit query with filters, newest first, and chain verification on demand. */
export function AuditPage() {
  const [draft, setDraft] = useState<Filter>({});
  const [filter, setFilter] = useState<Filter>({});
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [verdict, setVerdict] = useState<AuditVerdict | null>(null);
  const [verifyError, setVerifyError] = useState<unknown>(null);
  const [verifying, setVerifying] = useState(false);

  const load = async (f: Filter, from: string | null, prev: AuditEvent[]) => {
    setError(null);
    try {
      const page = await getJson<Page<AuditEvent>>(query(f, from));
      setEvents([...prev, ...page.items]);
      setCursor(page.nextCursor);
    } catch (err) {
      setError(err);
      setEvents(prev);
    }
  };
  useEffect(() => void load(filter, null, []), [filter]);

  const verify = async () => {
    setVerifying(true);
    setVerdict(null);
    setVerifyError(null);
    try {
      setVerdict(await getJson<AuditVerdict>("/v1/audit/verify"));
    } catch (err) {
      setVerifyError(err);
    }
    setVerifying(false);
  };

  const input = (k: (typeof FIELDS)[number], label: string, placeholder: string) => (
    <label>
      {label}{" "}
      <input value={draft[k] ?? ""} placeholder={placeholder} name={k} onInput={(e) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value.trim() })} />
    </label>
  );
  return (
    <>
      <h1>Audit</h1>
      <Section title="Chain verification" id="verify">
        <p>
          Recompute the hash chain, check it against the newest signed checkpoint and cross-check creation events.{" "}
          <button type="button" onClick={verify} disabled={verifying} id="verify-chain">
            {verifying ? "Verifying…" : "Verify chain"}
          </button>
        </p>
        {verifyError ? <ErrorBox error={verifyError} what="the verdict" /> : null}
        {verdict ? <Verdict v={verdict} /> : null}
      </Section>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({ ...draft });
        }}
      >
        {input("action", "Action", "intermediate.issue")}
        {input("actor", "Actor", "token id or system")}
        {input("cluster", "Cluster", "name")}
        {input("trustDomain", "Trust domain", "cluster.local")}
        <label>
          Outcome{" "}
          <select name="outcome" value={draft.outcome ?? ""} onChange={(e) => setDraft({ ...draft, outcome: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            <option value="success">success</option>
            <option value="denied">denied</option>
            <option value="failure">failure</option>
          </select>
        </label>
        {input("since", "Since", "2026-01-01T00:00:00Z")}
        {input("until", "Until", "2026-12-31T00:00:00Z")}
        <button type="submit">Apply</button>
      </form>
      {error ? <ErrorBox error={error} what="audit events" /> : null}
      {events === null ? <Loading what="audit events" /> : error && events.length === 0 ? null : <AuditTable events={events} />}
      {cursor && events ? (
        <button type="button" onClick={() => void load(filter, cursor, events)}>
          Load older events
        </button>
      ) : null}
    </>
  );
}

function Verdict({ v }: { v: AuditVerdict }) {
  return (
    <div class={v.ok ? "verdict ok" : "verdict bad"} role="status">
      <strong>{v.ok ? "✓ The audit chain holds" : "✕ The audit chain does not hold"}</strong>: {v.events} events verified, head {v.lastSeq}:
      <code>{v.lastHash.slice(0, 16)}…</code>; hash chain {v.chainOk ? "intact" : "broken"}
      {v.firstBroken ? ` at seq ${v.firstBroken.seq} (${v.firstBroken.reason})` : ""}; checkpoint {v.checkpoint.status}
      {v.checkpoint.checkpoint ? ` at seq ${v.checkpoint.checkpoint.seq}, ${v.checkpoint.eventsAfter} events after it` : ""}
      {v.checkpoint.reason ? ` (${v.checkpoint.reason})` : ""}
      {v.missingCreationEvents.length ? `; ${v.missingCreationEvents.length} rows without their creation event` : ""}.
    </div>
  );
}
