import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api.js";
import { crlFreshness, stamp } from "../format.js";
import type { ClusterStatus, TrustReason, TrustState } from "../types.js";

// Every state is shown with a symbol and a word as well as a colour: readable without colour.
const TRUST_MARK: Record<TrustState, string> = { converged: "✓", drift: "✕", stale: "◷", unknown: "?" };
const STATUS_MARK: Record<ClusterStatus, string> = { active: "●", due: "↻", pending: "○", expired: "✕", revoked: "⊘", decommissioned: "–" };

export function TrustBadge({ state }: { state: TrustState }) {
  return (
    <span class={`badge trust-${state}`} data-trust={state}>
      {`${TRUST_MARK[state]} ${state}`}
    </span>
  );
}

export function StatusBadge({ status }: { status: ClusterStatus }) {
  return (
    <span class={`badge status-${status}`}>{`${STATUS_MARK[status]} ${status}`}</span>
  );
}

export function CrlBadge({ nextUpdate, now }: { nextUpdate: string | null | undefined; now: number }) {
  const f = crlFreshness(nextUpdate, now);
  const text = { expired: "✕ past nextUpdate", expiring: "⚠ nextUpdate within a day", fresh: "✓ fresh", none: "– none reported" }[f];
  return <span class={`badge crl-${f}`}>{text}</span>;
}

/** Times shown relative, with the exact UTC time on hover. */
export function When({ iso, text }: { iso: string | null | undefined; text: string }) {
  return iso ? <time dateTime={iso} title={stamp(iso)}>{text}</time> : <span class="muted">—</span>;
}

export function ErrorBox({ error, what }: { error: unknown; what?: string }) {
  const e = error instanceof ApiError ? error : new ApiError(0, "error", String((error as Error)?.message ?? error));
  return (
    <div class="error" role="alert">
      <strong>{what ? `Could not load ${what}` : "Request failed"}{e.status ? ` (${e.status} ${e.code})` : ""}:</strong> {e.detail}
    </div>
  );
}

const DETAIL_MAX = 140;
const ISSUERS_SHOWN = 8;

/** The reasons of a trust state; `compact` (the overview's 500 rows) leaves out the fingerprints and serials. */
export function ReasonList({ reasons, compact = false }: { reasons: TrustReason[]; compact?: boolean }) {
  if (reasons.length === 0) return <span class="muted">no reasons</span>;
  if (compact) {
    return (
      <ul class="reasons">
        {reasons.map((r, i) => (
          <li key={i} data-reason={r.code} title={r.detail.length > DETAIL_MAX ? r.detail : undefined}>
            <code>{r.code}</code> {r.detail.length > DETAIL_MAX ? `${r.detail.slice(0, DETAIL_MAX)}…` : r.detail}
          </li>
        ))}
      </ul>
    );
  }
  return (
    <ul class="reasons">
      {reasons.map((r, i) => (
        <li key={i} data-reason={r.code}>
          <code>{r.code}</code> {r.detail}
          {r.missing?.length ? <div class="sub">missing roots: {r.missing.map((f) => <code key={f} title={f}>{f.slice(0, 16)}…</code>)}</div> : null}
          {r.unexpected?.length ? <div class="sub">unexpected roots: {r.unexpected.map((f) => <code key={f} title={f}>{f.slice(0, 16)}…</code>)}</div> : null}
          {r.issuers?.length ? (
            <div class="sub">
              CRL issuers missing{r.issuerCount && r.issuerCount > r.issuers.length ? ` (${r.issuers.length} of ${r.issuerCount} listed)` : ""}:{" "}
              {r.issuers.slice(0, ISSUERS_SHOWN).map(issuerCode)}
              {r.issuers.length > ISSUERS_SHOWN ? (
                <details>
                  <summary>{r.issuers.length - ISSUERS_SHOWN} more</summary>
                  {r.issuers.slice(ISSUERS_SHOWN).map(issuerCode)}
                </details>
              ) : null}
            </div>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

const issuerCode = (s: { serial: string; kind: string; cluster?: string }) => (
  <code key={s.serial} class="nowrap" title={s.serial}>
    {s.kind} {s.cluster ? `${s.cluster} ` : ""}
    {s.serial.slice(0, 12)}
  </code>
);

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" id={id}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export type Load<T> = { data?: T; error?: unknown; loading: boolean };

/** Runs `fn` when `deps` change and keeps its result or error (the previous result stays shown meanwhile); a stale answer is dropped. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Load<T> {
  const [state, setState] = useState<Load<T>>({ loading: true });
  useEffect(() => {
    let live = true;
    setState((s) => ({ data: s.data, loading: true }));
    fn().then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, deps);
  return state;
}

export const Loading = ({ what }: { what: string }) => <p class="loading">Loading {what}…</p>;
