import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, FLEET_PAGE, getJson, keepFirstFleetPage, onUnauthorized, session, type Page } from "./api.js";
import { AuditPage } from "./pages/audit.js";
import { ClusterPage } from "./pages/cluster.js";
import { Overview } from "./pages/overview.js";
import { TimelinePage } from "./pages/timeline.js";
import { TrustDomainPage } from "./pages/trust-domain.js";
import "./style.css";

type Route = { page: "overview" } | { page: "timeline" } | { page: "audit" } | { page: "cluster"; name: string } | { page: "trust-domain"; name: string };

function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").map((p) => decodeURIComponent(p));
  if (parts[0] === "clusters" && parts[1]) return { page: "cluster", name: parts[1] };
  if (parts[0] === "trust-domains" && parts[1]) return { page: "trust-domain", name: parts[1] };
  if (parts[0] === "timeline") return { page: "timeline" };
  if (parts[0] === "audit") return { page: "audit" };
  return { page: "overview" };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => {
      setRoute(parseRoute(location.hash));
      window.scrollTo(0, 0);
    };
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function SignIn({ onSignedIn, message }: { onSignedIn: () => void; message: string | null }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(message);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const candidate = token.trim();
    if (!candidate) return setError("Paste an API token first.");
    setBusy(true);
    setError(null);
    try {
      // Any valid token may read the fleet: the check is the overview's first page, kept for it.
      keepFirstFleetPage(await getJson<Page<unknown>>(FLEET_PAGE, candidate));
      session.set(candidate);
      onSignedIn();
    } catch (err) {
      const detail = err instanceof ApiError ? err.detail : String(err);
      setError(err instanceof ApiError && err.status === 401 ? `That token was not accepted: ${detail}. Check that you pasted all of it and that it has not expired or been revoked.` : `Could not sign in: ${detail}`);
    }
    setBusy(false);
  };
  return (
    <main class="signin">
      <h1>meshroot</h1>
      <p>The certificate authority of your mesh: every trust domain and cluster, what was issued and what each cluster runs.</p>
      <form onSubmit={submit} class="card">
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="off" spellcheck={false} value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} placeholder="mrt_…" />
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        {error ? (
          <p class="error" role="alert" id="signin-error">
            {error}
          </p>
        ) : null}
        <p class="muted">
          The token is kept in this browser tab's session storage only (never a cookie, a URL or local storage) and sent as a bearer token to meshroot's API. Closing
          the tab or signing out forgets it. Create one with <code>meshroot token create</code>; an auditor token sees everything but keys.
        </p>
      </form>
    </main>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(() => session.token() !== null);
  const [message, setMessage] = useState<string | null>(null);
  const route = useRoute();
  const now = Date.now();
  useEffect(
    () =>
      onUnauthorized((err) => {
        session.clear();
        setMessage(`Signed out: the API no longer accepts this token (${err.detail}).`);
        setSignedIn(false);
      }),
    [],
  );
  if (!signedIn) {
    return (
      <SignIn
        message={message}
        onSignedIn={() => {
          setMessage(null);
          setSignedIn(true);
        }}
      />
    );
  }
  const signOut = () => {
    session.clear();
    setMessage("Signed out.");
    setSignedIn(false);
  };
  const nav = (href: string, label: string, active: boolean) => (
    <a href={href} class={active ? "active" : ""} aria-current={active ? "page" : "false"}>
      {label}
    </a>
  );
  return (
    <>
      <header class="top">
        <a href="#/" class="brand">
          meshroot
        </a>
        <nav>
          {nav("#/", "Fleet", route.page === "overview")}
          {nav("#/timeline", "Timeline", route.page === "timeline")}
          {nav("#/audit", "Audit", route.page === "audit")}
          <a href="/docs/">API docs</a>
        </nav>
        <button type="button" class="signout" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        {route.page === "overview" ? (
          <Overview now={now} />
        ) : route.page === "timeline" ? (
          <TimelinePage now={now} />
        ) : route.page === "audit" ? (
          <AuditPage />
        ) : route.page === "cluster" ? (
          <ClusterPage key={route.name} name={route.name} now={now} />
        ) : (
          <TrustDomainPage key={route.name} name={route.name} now={now} />
        )}
      </main>
    </>
  );
}

const root = document.getElementById("app")!;
root.textContent = ""; // the "Loading" placeholder of index.html
render(<App />, root);
