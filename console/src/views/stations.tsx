// Provisioning stations: credentials of factory lines and integrations that
// enroll many devices over EST within a scope. A new secret is shown once;
// the page of a station shows what it enrolled, and an admin edits its
// scope, gives it a TLS client certificate or disables it at once.
import { useState } from "preact/hooks";
import { call, may } from "../api";
import { Action, Choices, Failure, Field, FormError, Page, Status, Table, useApi, useForm, useSession, When } from "../ui";

type Station = {
  name: string;
  description: string;
  client_id: string;
  basic: boolean;
  certificate?: { sha256: string; subject: string; issuer: string; not_after: string; source: string } | null;
  labels: string[];
  device_id_pattern: string;
  device_ids: string[];
  register_mode: string;
  max_enrollments?: number | null;
  enrollments: number;
  expires_at?: string | null;
  disabled_at?: string | null;
  state: string;
  created_at: string;
  created_by: string;
  secret?: string;
  certificate_pem?: string;
};

type Enrollment = { enrollment: string; device_id: string; label: string; registered: boolean; created_at: string };

const scopeOf = (s: Station) =>
  [s.device_id_pattern && <code>{s.device_id_pattern}</code>, s.device_ids.length > 0 && `${s.device_ids.length} listed`].filter(Boolean);

const used = (s: Station) => `${s.enrollments}${s.max_enrollments ? ` of ${s.max_enrollments}` : ""}`;

function ToggleStation({ s, onDone }: { s: Station; onDone: () => void }) {
  const path = `/api/v1/stations/${encodeURIComponent(s.name)}`;
  return s.disabled_at ? (
    <Action label="Enable" needs="admin" run={() => call("POST", `${path}/enable`)} onDone={onDone} />
  ) : (
    <Action label="Disable" needs="admin" danger confirm={`Disable station ${s.name}? Its next request is refused.`}
      run={() => call("POST", `${path}/disable`)} onDone={onDone} />
  );
}

export function Stations() {
  const who = useSession();
  const list = useApi<{ items: Station[] }>("/api/v1/stations");
  return (
    <Page title="Provisioning stations">
      <p class="hint">A station (a factory line, an integration) enrolls many devices over EST under its own credential, each device named in its CSR.</p>
      <Failure message={list.error} />
      <Table caption="Provisioning stations" empty="No station: devices enroll with their own credentials." rows={list.data?.items} columns={[
        { label: "Name", render: (s) => <a href={`/stations/${encodeURIComponent(s.name)}`}>{s.name}</a> },
        { label: "State", render: (s) => <Status value={s.state} /> },
        { label: "Labels", render: (s) => s.labels.join(", ") },
        { label: "Device IDs", render: (s) => scopeOf(s).map((p, i) => <>{i > 0 && ", "}{p}</>) },
        { label: "Creates devices in", render: (s) => s.register_mode },
        { label: "Enrollments", render: used, numeric: true },
        { label: "Expires", render: (s) => <When at={s.expires_at} /> },
        { label: "Authenticates with", render: (s) => [s.basic && "secret", s.certificate && "certificate"].filter(Boolean).join(", ") || "nothing yet" },
        { label: "Actions", render: (s) => <ToggleStation s={s} onDone={list.reload} /> },
      ]} />
      {may(who.role, "admin") && <StationForm onDone={list.reload} />}
    </Page>
  );
}

const blank = { name: "", description: "", labels: [] as string[], device_id_pattern: "", device_ids: "", register_mode: "FACTORY", max_enrollments: "", expires_at: "", basic: true };

/** localInput is a time as a datetime-local input shows it: local, to the minute. */
function localInput(iso: string) {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** scopeBody is the API's form of a station's scope. */
function scopeBody(v: typeof blank) {
  return {
    description: v.description, labels: v.labels, device_id_pattern: v.device_id_pattern,
    device_ids: v.device_ids.split(/\s+/).filter(Boolean), register_mode: v.register_mode,
    max_enrollments: v.max_enrollments === "" ? null : Number(v.max_enrollments),
    expires_at: v.expires_at ? new Date(v.expires_at).toISOString() : null,
  };
}

/** StationForm creates a station or, given one, edits its scope. */
function StationForm({ station, onDone }: { station?: Station; onDone: () => void }) {
  const labels = useApi<{ items: { label: string }[] }>("/api/v1/est-labels");
  const [created, setCreated] = useState<Station | null>(null);
  const form = useForm(station ? {
    ...blank, name: station.name, description: station.description, labels: station.labels, device_id_pattern: station.device_id_pattern,
    device_ids: station.device_ids.join("\n"), register_mode: station.register_mode, max_enrollments: station.max_enrollments ? String(station.max_enrollments) : "",
    expires_at: station.expires_at ? localInput(station.expires_at) : "",
  } : blank);
  const title = station ? "Edit the scope" : "Add a station";
  return (
    <section aria-labelledby="station-form">
      <h2 id="station-form">{title}</h2>
      <form class="stack" aria-label={title} onSubmit={form.submit(async (v) => {
        setCreated(null);
        if (station) {
          await call("PUT", `/api/v1/stations/${encodeURIComponent(station.name)}`, scopeBody(v));
        } else {
          setCreated(await call<Station>("POST", "/api/v1/stations", { name: v.name, basic: v.basic, ...scopeBody(v) }));
          form.setValues(blank);
        }
        onDone();
      })}>
        {!station && <Field form={form} name="name" label="Name (lowercase, e.g. line-3)" required />}
        <Field form={form} name="description" label="Description" />
        <Choices form={form} name="labels" label="EST labels it may enroll through" options={(labels.data?.items ?? []).map((l) => [l.label, l.label])} />
        <Field form={form} name="device_id_pattern" label="Device IDs matching (a regular expression, whole ID)" hint="e.g. cam-[0-9]{4}" />
        <Field form={form} name="device_ids" label="And these device IDs, one per line" rows={3} />
        <Field form={form} name="register_mode" label="A device it names that does not exist is created in mode" options={[["FACTORY", "FACTORY"], ["NEW", "NEW"]]} />
        <Field form={form} name="max_enrollments" label="At most this many enrollments (empty: no limit)" type="number" />
        <Field form={form} name="expires_at" label="Expires (empty: never)" type="datetime-local" />
        {!station && <Field form={form} name="basic" label="Give it a secret for HTTP Basic (else it needs a TLS client certificate)" type="checkbox" />}
        <FormError form={form} fields={["name", "description", "labels", "device_id_pattern", "device_ids", "register_mode", "max_enrollments", "expires_at", "basic"]} />
        <button type="submit" disabled={form.busy}>{station ? "Save" : "Add station"}</button>
      </form>
      {created && <SecretNotice station={created} />}
    </section>
  );
}

function SecretNotice({ station }: { station: Station }) {
  return (
    <p class="notice" role="status">
      Station {station.name} authenticates as <code>{station.client_id}</code>
      {station.secret ? <> with the secret, shown only now: <code>{station.secret}</code></> : " with a TLS client certificate, to be given on its page"}.
    </p>
  );
}

export function StationPage({ name }: { name: string }) {
  const who = useSession();
  const path = `/api/v1/stations/${encodeURIComponent(name)}`;
  const station = useApi<Station>(path);
  const activity = useApi<{ items: Enrollment[] }>(`${path}/enrollments`);
  const [shown, setShown] = useState<Station | null>(null);
  const s = station.data;
  const reload = () => {
    station.reload();
    activity.reload();
  };
  return (
    <Page title={`Station ${name}`} actions={s && <ToggleStation s={s} onDone={reload} />}>
      <Failure message={station.error} />
      {s && (
        <dl class="facts">
          <dt>State</dt><dd><Status value={s.state} /></dd>
          <dt>Description</dt><dd>{s.description || "—"}</dd>
          <dt>HTTP Basic ID</dt><dd><code>{s.client_id}</code>{s.basic ? "" : " (no secret)"}</dd>
          <dt>Client certificate</dt><dd>{s.certificate ? <>{s.certificate.subject}, by {s.certificate.issuer} ({s.certificate.source}), until <When at={s.certificate.not_after} /></> : "none"}</dd>
          <dt>Labels</dt><dd>{s.labels.join(", ")}</dd>
          <dt>Device IDs</dt><dd>{s.device_id_pattern ? <code>{s.device_id_pattern}</code> : "—"}{s.device_ids.length > 0 && <> and {s.device_ids.join(", ")}</>}</dd>
          <dt>Creates devices in</dt><dd>{s.register_mode}</dd>
          <dt>Enrollments</dt><dd>{used(s)}</dd>
          <dt>Expires</dt><dd><When at={s.expires_at} /></dd>
          <dt>Created</dt><dd><When at={s.created_at} /> by {s.created_by}</dd>
        </dl>
      )}
      <h2>What it enrolled</h2>
      <Failure message={activity.error} />
      <Table caption="Enrollments by this station" empty="No enrollment yet." rows={activity.data?.items} columns={[
        { label: "When", render: (e) => <When at={e.created_at} /> },
        { label: "Device", render: (e) => <a href={`/devices/${encodeURIComponent(e.device_id)}`}>{e.device_id}</a> },
        { label: "Label", render: (e) => e.label },
        { label: "Device created", render: (e) => (e.registered ? "yes" : "no, it existed") },
      ]} />
      {s && may(who.role, "admin") && (
        <>
          <section aria-labelledby="credentials">
            <h2 id="credentials">Credentials</h2>
            <p>
              <Action label="New secret" needs="admin" confirm={`Give ${name} a new secret? The old one stops working.`}
                run={async () => setShown(await call<Station>("POST", `${path}/secret`))} onDone={reload} />
            </p>
            {shown?.secret && <SecretNotice station={shown} />}
            <CertificateForm path={path} onDone={reload} />
          </section>
          <StationForm station={s} onDone={reload} />
        </>
      )}
    </Page>
  );
}

/** CertificateForm has certfleet issue the station's TLS client certificate for a CSR. */
function CertificateForm({ path, onDone }: { path: string; onDone: () => void }) {
  const form = useForm({ csr: "" });
  const [issued, setIssued] = useState("");
  return (
    <form class="stack" aria-label="Issue a client certificate" onSubmit={form.submit(async (v) => {
      const s = await call<Station>("PUT", `${path}/certificate`, { csr: v.csr });
      setIssued(s.certificate_pem ?? "");
      onDone();
    })}>
      <Field form={form} name="csr" label="The station's CSR (PEM): certfleet issues its TLS client certificate" rows={5} />
      <FormError form={form} fields={["csr"]} />
      <button type="submit" disabled={form.busy}>Issue certificate</button>
      {issued && <pre aria-label="The station's certificate and chain">{issued}</pre>}
    </form>
  );
}
