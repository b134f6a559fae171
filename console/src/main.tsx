import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, may, session, signIn, signOut, type Role, type Session } from "./api";
import { navigate, onLink, useLocation } from "./router";
import { SessionContext } from "./ui";
import { Dashboard } from "./views/dashboard";
import { DeviceImport, DevicePage, Devices, DevicesWithoutCertificate } from "./views/devices";
import { CertificatePage, Certificates } from "./views/certificates";
import { ProfilePage, Profiles } from "./views/profiles";
import { JobPage, Jobs, NewJob } from "./views/jobs";
import { CARequests } from "./views/approvals";
import { TrustAnchors } from "./views/trust";
import { CAs } from "./views/cas";
import { DeviceTypes } from "./views/devicetypes";
import { StationPage, Stations } from "./views/stations";
import { WebhookPage, Webhooks } from "./views/webhooks";
import { Audit, Credentials, ESTLabels, RenewalPolicies, Tokens } from "./views/admin";
import "./style.css";

function App() {
  const [who, setWho] = useState<Session | null | undefined>(undefined);
  const [failure, setFailure] = useState("");
  useEffect(() => {
    session().then(setWho, (e) => setFailure(String(e.message ?? e)));
  }, []);
  if (failure) return <p role="alert">{failure}</p>;
  if (who === undefined) return <p>Loading…</p>;
  if (who === null) return <SignIn onSignedIn={setWho} />;
  return (
    <SessionContext.Provider value={who}>
      <Shell who={who} onSignedOut={() => setWho(null)} />
    </SessionContext.Provider>
  );
}

function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      onSignedIn(await signIn(token));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <main class="signin">
      <h1>certfleet</h1>
      <form onSubmit={submit}>
        <label for="token">API token</label>
        <input id="token" type="password" autocomplete="off" value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          aria-invalid={error !== ""} aria-describedby="token-error" required />
        {error && <p id="token-error" class="field-error" role="alert">{error}</p>}
        <button type="submit">Sign in</button>
      </form>
      <p class="hint">An admin makes tokens with <code>POST /api/v1/tokens</code>; the console keeps only a session cookie.</p>
    </main>
  );
}

// sections are the navigation; a role sees those it may read.
const sections: [string, string, Role][] = [
  ["/", "Dashboard", "auditor"],
  ["/devices", "Devices", "auditor"],
  ["/certificates", "Certificates", "auditor"],
  ["/profiles", "Profiles", "auditor"],
  ["/jobs", "Jobs", "auditor"],
  ["/ca-requests", "CA requests", "auditor"],
  ["/trust-anchors", "Trust anchors", "auditor"],
  ["/cas", "CAs", "auditor"],
  ["/est-labels", "EST labels", "auditor"],
  ["/device-types", "Device types", "auditor"],
  ["/stations", "Stations", "auditor"],
  ["/webhooks", "Webhooks", "admin"],
  ["/renewal-policies", "Renewal", "auditor"],
  ["/audit", "Audit log", "auditor"],
  ["/tokens", "Tokens", "admin"],
  ["/credentials", "Credentials", "auditor"],
];

function Shell({ who, onSignedOut }: { who: Session; onSignedOut: () => void }) {
  const { path, query } = useLocation();
  const out = async () => {
    await signOut();
    navigate("/", true); // the next person to sign in starts at the dashboard, not at this one's view
    onSignedOut();
  };
  const here = (href: string) => (href === "/" ? path === "/" : path === href || path.startsWith(href + "/"));
  return (
    <div onClick={onLink}>
      <a class="skip" href="#content">Skip to content</a>
      <header>
        <strong>certfleet</strong>
        <nav aria-label="Sections">
          {sections.filter(([, , role]) => may(who.role, role)).map(([href, label]) => (
            <a href={href} aria-current={here(href) ? "page" : undefined}>{label}</a>
          ))}
        </nav>
        <span class="who">{who.name} ({who.role})</span>
        <button type="button" onClick={out}>Sign out</button>
      </header>
      <main id="content">
        <View path={path} query={query} key={path} />
      </main>
    </div>
  );
}

function View({ path, query }: { path: string; query: URLSearchParams }) {
  const [section, id] = path.split("/").filter(Boolean).map(decodeURIComponent);
  switch (section) {
    case undefined:
      return <Dashboard query={query} />;
    case "devices":
      if (id === "import") return <DeviceImport />;
      if (id === "missing") return <DevicesWithoutCertificate query={query} />;
      return id ? <DevicePage id={id} /> : <Devices query={query} />;
    case "certificates":
      return id ? <CertificatePage id={id} /> : <Certificates query={query} />;
    case "profiles":
      return id === "new" ? <ProfilePage /> : id ? <ProfilePage id={id} /> : <Profiles query={query} />;
    case "jobs":
      return id === "new" ? <NewJob query={query} /> : id ? <JobPage id={id} query={query} /> : <Jobs query={query} />;
    case "ca-requests":
      return <CARequests query={query} />;
    case "trust-anchors":
      return <TrustAnchors />;
    case "cas":
      return <CAs />;
    case "est-labels":
      return <ESTLabels />;
    case "device-types":
      return <DeviceTypes />;
    case "stations":
      return id ? <StationPage name={id} /> : <Stations />;
    case "webhooks":
      return id ? <WebhookPage name={id} query={query} /> : <Webhooks />;
    case "renewal-policies":
      return <RenewalPolicies />;
    case "audit":
      return <Audit query={query} />;
    case "tokens":
      return <Tokens query={query} />;
    case "credentials":
      return <Credentials />;
  }
  return <p role="alert">No page at {path}. <a href="/">To the dashboard</a></p>;
}

render(<App />, document.getElementById("app")!);
