import { useId } from "preact/hooks";
import { DAY, day, duration } from "../format.js";

// Validity windows drawn as SVG by the rendering library itself: no chart library, no injected
// styles (the CSP forbids them), text on every mark and a fill pattern per status, so the picture
// reads without colour; every bar has a <title> with its exact dates.

export interface Window {
  from: number;
  to: number;
  rotateAfter?: number;
  status: "prepared" | "active" | "superseded" | "revoked" | "expired";
  label: string;
}

export interface Row {
  key: string;
  label: string;
  href?: string;
  windows: Window[];
}

export interface Mark {
  at: number;
  label: string;
}

const LABEL_W = 190;
const CHART_W = 760;
const ROW_H = 30;
/** Consecutive generations overlap (the next is issued at rotate-after): they alternate between two lanes. */
const LANE_H = 11;
const AXIS_H = 26;
const MARKS_H = 16;

/** The range every row fits in, bounded to two years either side of today. */
function rangeOf(rows: Row[], now: number): [number, number] {
  let lo = now - 30 * DAY;
  let hi = now + 30 * DAY;
  for (const r of rows) for (const w of r.windows) {
    lo = Math.min(lo, w.from);
    hi = Math.max(hi, w.to);
  }
  return [Math.max(lo, now - 730 * DAY), Math.min(hi, now + 730 * DAY)];
}

function ticks(lo: number, hi: number): number[] {
  const spanDays = (hi - lo) / DAY;
  const stepMonths = spanDays > 900 ? 6 : spanDays > 400 ? 3 : spanDays > 120 ? 1 : 0;
  const out: number[] = [];
  const d = new Date(lo);
  if (stepMonths === 0) {
    for (let t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) + DAY; t < hi; t += 7 * DAY) out.push(t);
    return out;
  }
  let y = d.getUTCFullYear();
  let m = d.getUTCMonth() + 1;
  for (;;) {
    if (m > 11) {
      y += Math.floor(m / 12);
      m %= 12;
    }
    const t = Date.UTC(y, m, 1);
    if (t >= hi) return out;
    if (m % stepMonths === 0) out.push(t);
    m += 1;
  }
}

/** Tick labels: a month (2027-03) on long ranges, a day on short ones. */
const stepLabel = (t: number, span: number) => new Date(t).toISOString().slice(0, span > 120 * DAY ? 7 : 10);

export function Timeline({ rows, marks, now, caption }: { rows: Row[]; marks: Mark[]; now: number; caption: string }) {
  const id = useId().replace(/[^A-Za-z0-9_-]/g, "");
  const [lo, hi] = rangeOf(rows, now);
  const x = (t: number) => LABEL_W + ((Math.min(Math.max(t, lo), hi) - lo) / (hi - lo)) * CHART_W;
  const height = AXIS_H + MARKS_H + rows.length * ROW_H + 4;
  const outside = marks.filter((m) => m.at < lo || m.at > hi);
  const inside = marks.filter((m) => m.at >= lo && m.at <= hi);
  const top = AXIS_H + MARKS_H;
  return (
    <figure class="timeline">
      <svg viewBox={`0 0 ${LABEL_W + CHART_W + 10} ${height}`} role="img" aria-label={caption} width="100%" preserveAspectRatio="xMinYMin meet">
        <defs>
          <pattern id={`${id}-superseded`} width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
            <rect width="6" height="6" class="pat-bg superseded" />
            <line x1="0" y1="0" x2="0" y2="6" class="pat-line" />
          </pattern>
          <pattern id={`${id}-revoked`} width="6" height="6" patternUnits="userSpaceOnUse">
            <rect width="6" height="6" class="pat-bg revoked" />
            <path d="M0 0L6 6M6 0L0 6" class="pat-line" />
          </pattern>
          <pattern id={`${id}-expired`} width="5" height="5" patternUnits="userSpaceOnUse">
            <rect width="5" height="5" class="pat-bg expired" />
            <circle cx="2.5" cy="2.5" r="1" class="pat-dot" />
          </pattern>
        </defs>
        {ticks(lo, hi).map((t) => (
          <g key={t} class="tick">
            <line x1={x(t)} x2={x(t)} y1={AXIS_H - 6} y2={height} />
            {x(t) < LABEL_W + CHART_W - 40 ? <text x={x(t) + 3} y={AXIS_H - 10}>{stepLabel(t, hi - lo)}</text> : null}
          </g>
        ))}
        {rows.map((r, i) => {
          const y = top + i * ROW_H;
          return (
            <g key={r.key} class="row" data-row={r.key}>
              <rect x="0" y={y} width={LABEL_W + CHART_W} height={ROW_H} class={i % 2 ? "stripe odd" : "stripe"} />
              {r.href ? (
                <a href={r.href}>
                  <text x="6" y={y + 19} class="row-label">{r.label}</text>
                </a>
              ) : (
                <text x="6" y={y + 19} class="row-label">{r.label}</text>
              )}
              {r.windows.map((w, n) => {
                const x0 = x(w.from);
                const top = y + 3 + (r.windows.length > 1 ? (n % 2) * (LANE_H + 2) : 6);
                const width = Math.max(2, x(w.to) - x0);
                const fill = w.status === "active" || w.status === "prepared" ? undefined : `url(#${id}-${w.status})`;
                const title = `${r.label} ${w.label} (${w.status}): ${day(new Date(w.from).toISOString())} → ${day(new Date(w.to).toISOString())}` +
                  (w.rotateAfter ? `, rotate after ${day(new Date(w.rotateAfter).toISOString())}` : "");
                return (
                  <g key={w.label} class={`window ${w.status}`}>
                    <title>{title}</title>
                    <rect x={x0} y={top} width={width} height={LANE_H} rx="2" fill={fill} class={`bar ${w.status}`} />
                    {width > 34 ? <text x={x0 + 4} y={top + 9} class={`bar-label ${w.status}`}>{w.label}</text> : null}
                    {w.rotateAfter && w.rotateAfter > lo && w.rotateAfter < hi ? (
                      <path d={`M${x(w.rotateAfter)} ${top}l-4 -3h8z M${x(w.rotateAfter)} ${top}v${LANE_H}`} class="rotate-mark" />
                    ) : null}
                  </g>
                );
              })}
            </g>
          );
        })}
        {inside.map((m, i) => (
          <g key={m.label + i} class="mark root">
            <line x1={x(m.at)} x2={x(m.at)} y1={AXIS_H} y2={height} />
            <text x={x(m.at) - 4} y={AXIS_H + 12} text-anchor="end">{m.label}</text>
          </g>
        ))}
        <g class="mark today">
          <line x1={x(now)} x2={x(now)} y1={AXIS_H} y2={height} />
          <text x={x(now) + 4} y={AXIS_H + 12}>today</text>
        </g>
      </svg>
      <figcaption>
        {caption}. Legend: <span class="key active">solid = active</span> <span class="key superseded">hatched = superseded</span>{" "}
        <span class="key revoked">crossed = revoked</span> <span class="key expired">dotted = expired</span>{" "}
        <span class="key prepared">outlined = prepared (a root rotation's, not yet used)</span>; ▼ and thin line = rotate-after; dashed line = a root's
        expiry; solid vertical line = today.
        {outside.map((m) => (
          <span key={m.label} class="beyond">
            {" "}
            {m.label} on {day(new Date(m.at).toISOString())} ({m.at > now ? `in ${duration(m.at - now)}` : `${duration(now - m.at)} ago`}, outside the chart).
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
