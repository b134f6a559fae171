import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip } from "chart.js";
import { ApiError, call, session, signIn, signOut, type Session } from "./api";
import "./style.css";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

type Timeline = {
  bucket: string;
  buckets: { bucket_start: string; certificates: number }[] | null;
  expired: number;
  devices_without_certificate: number;
};

function App() {
  const [who, setWho] = useState<Session | null | undefined>(undefined);
  const [failure, setFailure] = useState("");
  useEffect(() => {
    session().then(setWho, (e) => setFailure(String(e.message ?? e)));
  }, []);
  if (failure) return <p role="alert">{failure}</p>;
  if (who === undefined) return <p>Loading…</p>;
  if (who === null) return <SignIn onSignedIn={setWho} />;
  return <Dashboard who={who} onSignedOut={() => setWho(null)} />;
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

function Dashboard({ who, onSignedOut }: { who: Session; onSignedOut: () => void }) {
  const [timeline, setTimeline] = useState<Timeline | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    call<Timeline>("GET", "/api/v1/certificates/timeline?bucket=week").then(setTimeline, (e) => setError(e.message));
  }, []);
  const out = async () => {
    await signOut();
    onSignedOut();
  };
  return (
    <>
      <header>
        <strong>certfleet</strong>
        <span class="who">{who.name} ({who.role})</span>
        <button type="button" onClick={out}>Sign out</button>
      </header>
      <main>
        <h1>Dashboard</h1>
        {error && <p role="alert">{error}</p>}
        {timeline && (
          <>
            <section class="cards" aria-label="Fleet state">
              <Card label="Expired certificates" value={timeline.expired} />
              <Card label="Devices without a valid certificate" value={timeline.devices_without_certificate} />
              <Card label="Expiring in the next 6 months" value={(timeline.buckets ?? []).reduce((n, b) => n + b.certificates, 0)} />
            </section>
            <ExpiryChart timeline={timeline} />
          </>
        )}
      </main>
    </>
  );
}

function Card({ label, value }: { label: string; value: number }) {
  return (
    <div class="card">
      <div class="value">{value.toLocaleString()}</div>
      <div class="label">{label}</div>
    </div>
  );
}

function ExpiryChart({ timeline }: { timeline: Timeline }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const buckets = timeline.buckets ?? [];
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: {
        labels: buckets.map((b) => b.bucket_start.slice(0, 10)),
        datasets: [{ label: "Certificates expiring", data: buckets.map((b) => b.certificates), backgroundColor: "#2f6fb0" }],
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    return () => chart.destroy();
  }, [timeline]);
  return (
    <section aria-label="Expiry timeline">
      <h2>Expiry timeline, by {timeline.bucket}</h2>
      <div class="chart">
        <canvas ref={canvas} role="img" aria-label={`Certificates expiring per ${timeline.bucket}`} />
      </div>
      {buckets.length === 0 && <p>No active certificate expires in the next six months.</p>}
    </section>
  );
}

render(<App />, document.getElementById("app")!);
