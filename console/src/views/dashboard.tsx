// The dashboard: the fleet's headline counts, the expiry timeline (each bar
// a link to the certificates it counts), running jobs with their bars, and
// what needs a person.
import { useEffect, useRef } from "preact/hooks";
import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip } from "chart.js";
import { navigate, withQuery } from "../router";
import { Failure, OutcomeBar, Page, Status, useApi, useSession, When } from "../ui";
import type { ListedJob } from "./jobs";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

type Summary = {
  counts: {
    devices: number;
    active_certificates: number;
    expiring_7_days: number;
    expiring_30_days: number;
    expiring_90_days: number;
    expired: number;
    without_certificate: number;
    pending_ca_requests: number;
  };
  failed_items: { job_id: number; device_id: string; state: string; step: string; last_error: string }[];
  expiring_ca_certificates: { ca: string; role: string; subject: string; not_after: string }[];
};

type Timeline = { bucket: string; buckets: { bucket_start: string; certificates: number }[] | null };

const day = 24 * 3600 * 1000;
const inDays = (n: number) => new Date(Date.now() + n * day).toISOString();

export function Dashboard({ query }: { query: URLSearchParams }) {
  const bucket = query.get("bucket") === "month" ? "month" : "week";
  const summary = useApi<Summary>("/api/v1/summary", 15000);
  const timeline = useApi<Timeline>(`/api/v1/certificates/timeline?bucket=${bucket}`);
  const running = useApi<{ items: ListedJob[] }>("/api/v1/jobs?state=active&limit=10", 5000);
  const alerts = useApi<{ due: unknown[]; expired: unknown[] }>("/api/v1/renewal-alerts");
  const c = summary.data?.counts;
  const soon = new Date().toISOString();
  const grafana = useSession().grafana_url;
  return (
    <Page title="Dashboard" actions={grafana && <a class="button secondary" href={grafana} target="_blank" rel="noopener">Grafana dashboard</a>}>
      <Failure message={summary.error || timeline.error} />
      {c && (
        <section class="cards" aria-label="Fleet state">
          <Card label="Devices" value={c.devices} href="/devices" />
          <Card label="Active certificates" value={c.active_certificates} href="/certificates?status=active" />
          <Card label="Expiring within 7 days" value={c.expiring_7_days} href={`/certificates?status=active&expiring_after=${soon}&expiring_before=${inDays(7)}`} warn />
          <Card label="Expiring within 30 days" value={c.expiring_30_days} href={`/certificates?status=active&expiring_after=${soon}&expiring_before=${inDays(30)}`} />
          <Card label="Expiring within 90 days" value={c.expiring_90_days} href={`/certificates?status=active&expiring_after=${soon}&expiring_before=${inDays(90)}`} />
          <Card label="Expired" value={c.expired} href="/certificates?status=active&expired=true" warn />
          <Card label="Devices without a valid certificate" value={c.without_certificate} href="/devices/missing" warn />
        </section>
      )}
      {timeline.data && <ExpiryChart timeline={timeline.data} />}
      <section aria-labelledby="running">
        <h2 id="running">Running jobs</h2>
        {running.data && running.data.items.length === 0 && <p class="muted">No job is running.</p>}
        <ul class="job-bars">
          {running.data?.items.map((j) => (
            <li>
              <a href={`/jobs/${j.id}`}>{j.name}</a> <Status value={j.status} />
              <OutcomeBar outcomes={j.outcomes} />
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="attention">
        <h2 id="attention">Needs attention</h2>
        <ul class="attention">
          {c && c.pending_ca_requests > 0 && (
            <li>
              <a href="/ca-requests?status=pending">{c.pending_ca_requests} CA request(s) await approval</a>
            </li>
          )}
          {alerts.data && alerts.data.due.length + alerts.data.expired.length > 0 && (
            <li>
              <a href="/renewal-policies">{alerts.data.due.length} certificate(s) due for renewal, {alerts.data.expired.length} expired</a>
            </li>
          )}
          {summary.data?.expiring_ca_certificates.map((ca) => (
            <li>
              The {ca.role} certificate of CA <strong>{ca.ca}</strong> expires <When at={ca.not_after} />
            </li>
          ))}
          {summary.data?.failed_items.map((f) => (
            <li>
              <a href={`/jobs/${f.job_id}?state=${f.state}`}>Job {f.job_id}</a>: device <a href={`/devices/${encodeURIComponent(f.device_id)}`}>{f.device_id}</a>{" "}
              <Status value={f.state} /> at {f.step}: {f.last_error}
            </li>
          ))}
          {summary.data && c?.pending_ca_requests === 0 && summary.data.failed_items.length === 0 &&
            summary.data.expiring_ca_certificates.length === 0 && (alerts.data?.due.length ?? 0) === 0 && <li class="muted">Nothing needs attention.</li>}
        </ul>
      </section>
    </Page>
  );
}

function Card({ label, value, href, warn }: { label: string; value: number; href: string; warn?: boolean }) {
  return (
    <a class={`card${warn && value > 0 ? " warn" : ""}`} href={href}>
      <span class="value">{value.toLocaleString()}</span>
      <span class="label">{label}</span>
    </a>
  );
}

function ExpiryChart({ timeline }: { timeline: Timeline }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const buckets = timeline.buckets ?? [];
  const span = timeline.bucket === "month" ? (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)) : (d: Date) => new Date(d.getTime() + 7 * day);
  const linkOf = (b: { bucket_start: string }) => {
    const from = new Date(b.bucket_start);
    return `/certificates?status=active&expiring_after=${from.toISOString()}&expiring_before=${span(from).toISOString()}`;
  };
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: {
        labels: buckets.map((b) => b.bucket_start.slice(0, timeline.bucket === "month" ? 7 : 10)),
        datasets: [{ label: "Certificates expiring", data: buckets.map((b) => b.certificates), backgroundColor: "#2f6fb0" }],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        onClick: (_e, elements) => {
          if (elements.length) navigate(linkOf(buckets[elements[0].index]));
        },
      },
    });
    return () => chart.destroy();
  }, [timeline]);
  return (
    <section aria-labelledby="timeline">
      <div class="section-head">
        <h2 id="timeline">Expiry timeline, by {timeline.bucket}</h2>
        <nav aria-label="Bucket">
          <a href={withQuery({ bucket: "week" })} aria-current={timeline.bucket === "week" ? "page" : undefined}>Weeks</a>{" "}
          <a href={withQuery({ bucket: "month" })} aria-current={timeline.bucket === "month" ? "page" : undefined}>Months</a>
        </nav>
      </div>
      <div class="chart">
        <canvas ref={canvas} role="img" aria-label={`Certificates expiring per ${timeline.bucket}`} />
      </div>
      {buckets.length === 0 ? (
        <p>No active certificate expires in the next six months.</p>
      ) : (
        <details>
          <summary>The same as a list</summary>
          <ul class="bucket-links">
            {buckets.map((b) => (
              <li>
                <a href={linkOf(b)}>{b.bucket_start.slice(0, 10)}: {b.certificates.toLocaleString()}</a>
              </li>
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}
