import { ApiError, enc, getJson } from "../api.js";
import { ErrorBox, Loading, useLoad, When } from "../components/common.js";
import { relative, shortFp, stamp } from "../format.js";

// The trust domain's root rotation (README: Root rotation), read-only: phase, next gate, and per
// cluster what its cacerts holds and whether its last report meets the gate. Steps are taken
// with the CLI or the API (admin), never from here.

const PHASES = ["prepared", "trust-both", "sign-new", "drop-old", "done"] as const;

interface Gate {
  met: boolean;
  code?: string;
  detail?: string;
}

interface RootRotation {
  phase: (typeof PHASES)[number] | "rolled-back";
  history: { phase: string; at: string }[];
  startedAt: string;
  finishedAt: string | null;
  oldRoot: { generation: number; subject: string; notAfter: string; fingerprintSha256: string };
  newRoot: { generation: number; subject: string; notAfter: string; fingerprintSha256: string };
  gate: { next: string | null; met: boolean; notBefore: string | null; blocking: (Gate & { cluster: string })[] };
  clusters: {
    name: string;
    switched: boolean;
    active: { generation: number; root: "old" | "new" } | null;
    rootCertPem: ("old" | "new")[];
    lastObservedAt: string | null;
    gate: Gate;
  }[];
}

/** null when the trust domain never rotated its root. */
async function load(name: string): Promise<RootRotation | null> {
  try {
    return await getJson<RootRotation>(`/v1/trust-domains/${enc(name)}/root-rotation`);
  } catch (err) {
    if (err instanceof ApiError && (err.code === "root_rotation_not_found" || err.code === "route_not_found")) return null;
    throw err;
  }
}

export function RootRotationSection({ name, now }: { name: string; now: number }) {
  const rotation = useLoad(() => load(name), [name]);
  if (rotation.error) return <ErrorBox error={rotation.error} what="the root rotation" />;
  if (rotation.data === undefined) return <Loading what="the root rotation" />;
  const r = rotation.data;
  if (r === null) return <p class="muted">This trust domain has never rotated its root.</p>;
  const at = PHASES.indexOf(r.phase as (typeof PHASES)[number]);
  return (
    <>
      <ol class="phases" aria-label="phases">
        {PHASES.map((p, i) => (
          <li key={p} class={i < at ? "past" : i === at ? "current" : "future"} aria-current={i === at ? "step" : "false"}>
            {i < at ? "✓ " : i === at ? "▶ " : ""}
            {p}
          </li>
        ))}
        {r.phase === "rolled-back" ? <li class="current">↶ rolled back</li> : null}
      </ol>
      <p>
        Root g{r.oldRoot.generation} (<code title={r.oldRoot.fingerprintSha256}>{shortFp(r.oldRoot.fingerprintSha256)}</code>) → root g{r.newRoot.generation} (
        <code title={r.newRoot.fingerprintSha256}>{shortFp(r.newRoot.fingerprintSha256)}</code>, expires {relative(r.newRoot.notAfter, now)}); started {stamp(r.startedAt)}
        {r.finishedAt ? `, finished ${stamp(r.finishedAt)}` : ""}.
      </p>
      {r.gate.next ? (
        <p>
          Next: <strong>{r.gate.next}</strong>{" "}
          {r.gate.met ? <span class="ok">✓ gate met</span> : <span class="bad">✕ {r.gate.blocking.length} clusters block the gate</span>}
          {r.gate.notBefore ? (
            <>
              {" "}
              (not before <When iso={r.gate.notBefore} text={relative(r.gate.notBefore, now)} />)
            </>
          ) : null}
          . Advance with <code>meshroot root-rotation advance</code> (admin).
        </p>
      ) : null}
      {r.clusters.length === 0 ? <p class="muted">No cluster in this trust domain.</p> : null}
      <table hidden={r.clusters.length === 0}>
        <thead>
          <tr>
            <th>Cluster</th>
            <th>Signs under</th>
            <th>root-cert.pem holds</th>
            <th>Last observation</th>
            <th>Next gate</th>
          </tr>
        </thead>
        <tbody>
          {r.clusters.map((c) => (
            <tr key={c.name} data-cluster={c.name}>
              <td>
                <a href={`#/clusters/${enc(c.name)}`}>{c.name}</a>
              </td>
              <td>{c.active ? `${c.active.root} root (gen ${c.active.generation})` : "—"}</td>
              <td>{c.rootCertPem.join(" ‖ ") || "—"}</td>
              <td>
                <When iso={c.lastObservedAt} text={relative(c.lastObservedAt, now)} />
              </td>
              <td>
                {c.gate.met ? <span class="ok">✓ met</span> : <span class="bad">✕ {c.gate.code ?? "not met"}</span>}
                {c.gate.detail ? <div class="sub">{c.gate.detail}</div> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
