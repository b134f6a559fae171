// The certificate inventory: filters kept in the URL, CSV export of the same
// filter, and a certificate's page with its names, fingerprints, PEM and
// revocation.
import { call } from "../api";
import { Action, type Column, CursorPager, Failure, Field, Filters, FormError, Page, Status, Table, useApi, useForm, useSession, When } from "../ui";
import { useProfileNames } from "./devices";

export type Certificate = {
  id: number;
  device_id?: string | null;
  profile_id?: number | null;
  cert_type: string;
  issuer: string;
  serial: string;
  subject: string;
  sha256: string;
  not_before: string;
  not_after: string;
  status: string;
  expired: boolean;
  revoked_at?: string | null;
  revocation_reason?: number | null;
};

type Detail = Certificate & { sha1: string; dns_names?: string[]; ip_addresses?: string[]; email_addresses?: string[]; uris?: string[]; key_algorithm: string; pem: string };

export const certificateColumns: Column<Certificate>[] = [
  { label: "ID", sort: "id", render: (c) => <a href={`/certificates/${c.id}`}>{c.id}</a>, numeric: true },
  { label: "Subject", render: (c) => c.subject },
  { label: "Device", render: (c) => (c.device_id ? <a href={`/devices/${encodeURIComponent(c.device_id)}`}>{c.device_id}</a> : "—") },
  { label: "Type", render: (c) => c.cert_type },
  { label: "Status", render: (c) => <Status value={c.expired && c.status === "active" ? "expired" : c.status} /> },
  { label: "Expires", sort: "not_after", render: (c) => <When at={c.not_after} /> },
  { label: "Serial", render: (c) => <code class="serial">{c.serial}</code> },
];

const filterNames = ["status", "profile_id", "device_id", "expiring_after", "expiring_before", "expired"];

export function Certificates({ query }: { query: URLSearchParams }) {
  const params = new URLSearchParams();
  for (const k of filterNames) if (query.get(k)) params.set(k, query.get(k)!);
  const csv = `/api/v1/certificates.csv?${params}`;
  for (const k of ["sort", "order", "after"]) if (query.get(k)) params.set(k, query.get(k)!);
  params.set("limit", "50");
  const list = useApi<{ items: Certificate[]; next?: string }>(`/api/v1/certificates?${params}`);
  return (
    <Page title="Certificates" actions={<a class="button secondary" href={csv} download>Export CSV</a>}>
      <Filters query={query} fields={[
        { name: "status", label: "Status", options: [["", "Any status"], ["active", "Active"], ["revoked", "Revoked"], ["superseded", "Superseded"]] },
        { name: "expired", label: "Expired", options: [["", "Either"], ["true", "Expired only"]] },
        { name: "profile_id", label: "Profile ID", type: "number" },
        { name: "device_id", label: "Device" },
        { name: "expiring_after", label: "Expiring after", placeholder: "2027-01-01T00:00:00Z" },
        { name: "expiring_before", label: "Expiring before", placeholder: "2027-02-01T00:00:00Z" },
      ]} />
      <Failure message={list.error} />
      <Table caption="Certificates" empty="No certificate matches." rows={list.data?.items} columns={certificateColumns} query={query} />
      <CursorPager next={list.data?.next} query={query} />
    </Page>
  );
}

const reasons: [string, string][] = [
  ["0", "unspecified"], ["1", "keyCompromise"], ["3", "affiliationChanged"], ["4", "superseded"], ["5", "cessationOfOperation"], ["9", "privilegeWithdrawn"],
];

// reasonName names an RFC 5280 reason code, including those certfleet
// records but does not offer (a CA-side revocation may carry any).
function reasonName(code?: number | null): string {
  const all: Record<number, string> = { 2: "cACompromise", 6: "certificateHold", 8: "removeFromCRL", 10: "aACompromise" };
  for (const [c, n] of reasons) all[Number(c)] = n;
  return code == null ? "unspecified" : `${all[code] ?? "unknown"} (${code})`;
}

export function CertificatePage({ id }: { id: string }) {
  const cert = useApi<Detail>(`/api/v1/certificates/${encodeURIComponent(id)}`);
  const profileName = useProfileNames();
  const c = cert.data;
  const names = c ? [...(c.dns_names ?? []).map((n) => `DNS:${n}`), ...(c.ip_addresses ?? []).map((n) => `IP:${n}`),
    ...(c.email_addresses ?? []).map((n) => `email:${n}`), ...(c.uris ?? []).map((n) => `URI:${n}`)] : [];
  return (
    <Page title={`Certificate ${id}`}>
      <Failure message={cert.error} />
      {c && (
        <>
          <dl class="facts">
            <dt>Subject</dt><dd>{c.subject}</dd>
            <dt>Names (SAN)</dt><dd>{names.length ? names.join(", ") : "—"}</dd>
            <dt>Issuer</dt><dd>{c.issuer}</dd>
            <dt>Serial</dt><dd><code class="serial">{c.serial}</code></dd>
            <dt>SHA-256</dt><dd><code class="serial">{c.sha256}</code></dd>
            <dt>SHA-1</dt><dd><code class="serial">{c.sha1}</code></dd>
            <dt>Key</dt><dd>{c.key_algorithm}</dd>
            <dt>Valid</dt><dd><When at={c.not_before} /> to <When at={c.not_after} /></dd>
            <dt>Status</dt><dd><Status value={c.expired && c.status === "active" ? "expired" : c.status} />
              {c.revoked_at && <> on <When at={c.revoked_at} />, reason {reasonName(c.revocation_reason)}</>}</dd>
            <dt>Device</dt><dd>{c.device_id ? <a href={`/devices/${encodeURIComponent(c.device_id)}`}>{c.device_id}</a> : "—"}</dd>
            <dt>Profile</dt><dd>{profileName(c.profile_id)}</dd>
            <dt>Type</dt><dd>{c.cert_type}</dd>
          </dl>
          <h2>PEM</h2>
          <pre class="pem" aria-label="The certificate in PEM">{c.pem}</pre>
          <p class="actions">
            <button type="button" class="secondary" onClick={() => navigator.clipboard?.writeText(c.pem)}>Copy PEM</button>{" "}
            <a class="button secondary" href={`/api/v1/certificates/${c.id}.pem`} download>Download PEM with chain</a>{" "}
            <a class="button secondary" href={`/api/v1/certificates/${c.id}.der`} download>Download DER</a>
          </p>
          {c.status === "active" && <Revoke id={c.id} onDone={cert.reload} />}
        </>
      )}
    </Page>
  );
}

function Revoke({ id, onDone }: { id: number; onDone: () => void }) {
  const who = useSession();
  const form = useForm({ reason: "5" });
  if (who.role !== "admin") return null;
  return (
    <form class="inline-form danger-zone" aria-label="Revoke" onSubmit={form.submit(async (v) => {
      if (!window.confirm(`Revoke certificate ${id}? Relying parties will refuse it.`)) return;
      await call("POST", `/api/v1/certificates/${id}/revoke`, { reason: Number(v.reason) });
      onDone();
    })}>
      <Field form={form} name="reason" label="Revocation reason" options={reasons} />
      <button type="submit" class="danger" disabled={form.busy}>Revoke</button>
      <FormError form={form} fields={["reason"]} />
    </form>
  );
}

