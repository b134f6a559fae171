// The remaining operator and admin views: EST labels, renewal policies, the
// audit log, API tokens and device credentials. Secrets go in and, for a new
// token, come out once; the API never shows a stored one.
import { useState } from "preact/hooks";
import { call, may } from "../api";
import { Action, CursorPager, Failure, Field, Filters, FormError, Page, Status, Table, useApi, useForm, useSession, When } from "../ui";
import { useProfileNames } from "./devices";

type Label = {
  label: string;
  is_default: boolean;
  profile_id: number;
  allow_basic: boolean;
  allow_factory: boolean;
  allow_reenroll: boolean;
  identity_field: string;
  allowed_cidrs: string[] | null;
  scep_enabled: boolean;
  scep_challenges: string[] | null;
};

export function ESTLabels() {
  const list = useApi<{ items: Label[] }>("/api/v1/est-labels");
  const profileName = useProfileNames();
  const yes = (b: boolean) => (b ? "yes" : "no");
  return (
    <Page title="EST and SCEP labels">
      <Failure message={list.error} />
      <Table caption="Enrollment labels" empty="No label: devices cannot enroll themselves yet." rows={list.data?.items} columns={[
        { label: "Label", render: (l) => <>{l.label}{l.is_default && <> <Status value="default" /></>}</> },
        { label: "Profile", render: (l) => <a href={`/profiles/${l.profile_id}`}>{profileName(l.profile_id)}</a> },
        { label: "Password / OTP", render: (l) => yes(l.allow_basic) },
        { label: "Factory certificate", render: (l) => yes(l.allow_factory) },
        { label: "Re-enroll", render: (l) => yes(l.allow_reenroll) },
        { label: "Identity from", render: (l) => l.identity_field },
        { label: "Allowed networks", render: (l) => (l.allowed_cidrs ?? []).join(", ") || "any" },
        { label: "SCEP", render: (l) => (l.scep_enabled ? (l.scep_challenges ?? []).join(", ") : "off") },
        { label: "Actions", render: (l) => !l.is_default && (
          <Action label="Make default" needs="admin" run={() => call("POST", `/api/v1/est-labels/${encodeURIComponent(l.label)}/default`)} onDone={list.reload} />
        ) },
      ]} />
    </Page>
  );
}

type Policy = { id: number; name: string; cert_type: string; renew_before_days: number; paused: boolean; cron?: string; every?: string; next_run_at?: string | null; max_devices_per_job: number };

export function RenewalPolicies() {
  const list = useApi<{ items: Policy[] }>("/api/v1/renewal-policies");
  const alerts = useApi<{ due: { policy_id: number; device_id: string; certificate_id?: number; not_after?: string }[]; expired: unknown[] }>("/api/v1/renewal-alerts");
  return (
    <Page title="Renewal policies">
      <Failure message={list.error} />
      <Table caption="Renewal policies" empty="No renewal policy: certificates are renewed only by jobs started by hand." rows={list.data?.items} columns={[
        { label: "Name", render: (p) => p.name },
        { label: "Type", render: (p) => p.cert_type },
        { label: "Renew before", render: (p) => `${p.renew_before_days} d`, numeric: true },
        { label: "Runs", render: (p) => p.cron || (p.every ? `every ${p.every}` : "—") },
        { label: "Next run", render: (p) => (p.paused ? <Status value="paused" /> : <When at={p.next_run_at} />) },
        { label: "Actions", render: (p) => (
          <span class="decide">
            {p.paused ? (
              <Action label="Resume" needs="operator" run={() => call("POST", `/api/v1/renewal-policies/${p.id}/resume`)} onDone={list.reload} />
            ) : (
              <Action label="Pause" needs="operator" run={() => call("POST", `/api/v1/renewal-policies/${p.id}/pause`)} onDone={list.reload} />
            )}
            <Action label="Run now" needs="operator" run={() => call("POST", `/api/v1/renewal-policies/${p.id}/trigger`)} onDone={list.reload} />
          </span>
        ) },
      ]} />
      <h2>Due for renewal</h2>
      <Failure message={alerts.error} />
      <Table caption="Certificates due for renewal" empty="Nothing is due." rows={alerts.data?.due} columns={[
        { label: "Device", render: (a) => <a href={`/devices/${encodeURIComponent(a.device_id)}`}>{a.device_id}</a> },
        { label: "Certificate", render: (a) => (a.certificate_id ? <a href={`/certificates/${a.certificate_id}`}>{a.certificate_id}</a> : "none") },
        { label: "Expires", render: (a) => <When at={a.not_after} /> },
      ]} />
    </Page>
  );
}

type AuditEntry = { id: number; at: string; actor: string; action: string; object_type: string; object_ids: string[] | null; details: unknown };

export function Audit({ query }: { query: URLSearchParams }) {
  const params = new URLSearchParams({ limit: "100" });
  for (const k of ["object_type", "after"]) if (query.get(k)) params.set(k, query.get(k)!);
  const list = useApi<{ items: AuditEntry[]; next?: string }>(`/api/v1/audit?${params}`);
  return (
    <Page title="Audit log">
      <Filters query={query} fields={[{ name: "object_type", label: "Object", options: [
        ["", "Everything"], ["device", "Devices"], ["profile", "Profiles"], ["job", "Jobs"], ["certificate", "Certificates"], ["ca_request", "CA requests"],
        ["trust_anchor", "Trust anchors"], ["api_token", "API tokens and sessions"], ["credential", "Credentials"], ["est_label", "EST labels"], ["renewal_policy", "Renewal policies"],
      ] }]} />
      <Failure message={list.error} />
      <Table caption="Audit log" empty="Nothing recorded." rows={list.data?.items} columns={[
        { label: "When", render: (e) => <When at={e.at} /> },
        { label: "Who", render: (e) => e.actor },
        { label: "Action", render: (e) => <code>{e.action}</code> },
        { label: "Objects", render: (e) => (e.object_ids ?? []).join(", ") },
        { label: "Details", render: (e) => <code class="details">{e.details ? JSON.stringify(e.details) : ""}</code> },
      ]} />
      <CursorPager next={list.data?.next} query={query} />
    </Page>
  );
}

type Token = { id: number; name: string; role: string; created_by: string; created_at: string; expires_at?: string | null; last_used_at?: string | null; revoked_at?: string | null };

export function Tokens({ query }: { query: URLSearchParams }) {
  const after = query.get("after");
  const list = useApi<{ items: Token[]; next?: string }>(`/api/v1/tokens?limit=50${after ? `&after=${after}` : ""}`);
  const [created, setCreated] = useState("");
  const form = useForm({ name: "", role: "operator", expires_at: "" });
  return (
    <Page title="API tokens">
      <Failure message={list.error} />
      <Table caption="API tokens" empty="No token." rows={list.data?.items} columns={[
        { label: "Name", render: (t) => t.name },
        { label: "Role", render: (t) => t.role },
        { label: "Created", render: (t) => <>{<When at={t.created_at} />} by {t.created_by}</> },
        { label: "Expires", render: (t) => <When at={t.expires_at} /> },
        { label: "Last used", render: (t) => <When at={t.last_used_at} /> },
        { label: "State", render: (t) => (t.revoked_at ? <Status value="revoked" /> : (
          <Action label="Revoke" needs="admin" danger confirm={`Revoke token ${t.name}? Whatever uses it stops working.`}
            run={() => call("POST", `/api/v1/tokens/${t.id}/revoke`)} onDone={list.reload} />
        )) },
      ]} />
      <CursorPager next={list.data?.next} query={query} />
      <h2>New token</h2>
      <form class="inline-form" aria-label="New token" onSubmit={form.submit(async (v) => {
        setCreated("");
        const t = await call<{ token: string }>("POST", "/api/v1/tokens", { name: v.name, role: v.role, expires_at: v.expires_at ? new Date(v.expires_at).toISOString() : undefined });
        setCreated(t.token);
        list.reload();
      })}>
        <Field form={form} name="name" label="Name" required />
        <Field form={form} name="role" label="Role" options={[["auditor", "auditor"], ["operator", "operator"], ["admin", "admin"]]} />
        <Field form={form} name="expires_at" label="Expires" type="datetime-local" />
        <button type="submit" disabled={form.busy}>Create token</button>
        <FormError form={form} fields={["name", "role", "expires_at"]} />
      </form>
      {created && <p class="notice" role="status">The token, shown only now: <code>{created}</code></p>}
    </Page>
  );
}

type Credential = { name: string; kind: string; username?: string; fingerprint: string; allowed_addresses: string[] | null; created_by: string; created_at: string; rotated_at?: string | null; last_used_at?: string | null };

const kinds: [string, string][] = ["password", "bearer", "derived", "ssh_key", "ssh_password", "tls_client"].map((k) => [k, k]);

export function Credentials() {
  const who = useSession();
  const list = useApi<{ items: Credential[] }>("/api/v1/credentials");
  const form = useForm({ name: "", kind: "password", username: "", secret: "", allowed_addresses: "" });
  return (
    <Page title="Device credentials">
      <p class="hint">Secrets are sealed under the key-encryption key; the API shows only each one's fingerprint.</p>
      <Failure message={list.error} />
      <Table caption="Credentials" empty="No credential." rows={list.data?.items} columns={[
        { label: "Name", render: (c) => c.name },
        { label: "Kind", render: (c) => c.kind },
        { label: "User", render: (c) => c.username || "—" },
        { label: "Fingerprint", render: (c) => <code class="serial">{c.fingerprint}</code> },
        { label: "Allowed addresses", render: (c) => (c.allowed_addresses ?? []).join(", ") },
        { label: "Rotated", render: (c) => <When at={c.rotated_at ?? c.created_at} /> },
        { label: "Last used", render: (c) => <When at={c.last_used_at} /> },
      ]} />
      {may(who.role, "admin") && (
        <>
          <h2>New credential</h2>
          <form class="stack" aria-label="New credential" onSubmit={form.submit(async (v) => {
            await call("POST", "/api/v1/credentials", { name: v.name, kind: v.kind, username: v.username || undefined, secret: v.secret,
              allowed_addresses: v.allowed_addresses.split(/\s+/).filter(Boolean) });
            form.setValues({ name: "", kind: "password", username: "", secret: "", allowed_addresses: "" });
            list.reload();
          })}>
            <Field form={form} name="name" label="Name" required />
            <Field form={form} name="kind" label="Kind" options={kinds} />
            <Field form={form} name="username" label="Username" />
            <Field form={form} name="secret" label="Secret" type="password" required />
            <Field form={form} name="allowed_addresses" label="Allowed addresses, one per line" rows={3} hint="e.g. https://10.1.0.0/16/* ; the secret is sent nowhere else" />
            <FormError form={form} fields={["name", "kind", "username", "secret", "allowed_addresses"]} />
            <button type="submit" disabled={form.busy}>Create credential</button>
          </form>
        </>
      )}
    </Page>
  );
}
