// The device inventory: the paged table with its filters, CSV import with
// each row's refusal beside the row, bulk profile assignment, enable and
// disable, and a device's own page.
import { useState } from "preact/hooks";
import { ApiError, call, may } from "../api";
import { navigate } from "../router";
import { Action, CursorPager, Failure, Field, Filters, FormError, Page, RunLink, Status, Table, useApi, useForm, useSession, When } from "../ui";
import type { Certificate } from "./certificates";
import { certificateColumns } from "./certificates";
import type { Profile } from "./profiles";

export type Device = {
  id: string;
  name: string;
  device_type: string;
  driver: string;
  address: string;
  credential: string;
  mode: string;
  tls_pinned: boolean;
  profile_ids?: number[];
  certificate_not_after?: string | null;
};

const modes: [string, string][] = [["", "Any mode"], ["NEW", "NEW"], ["FACTORY", "FACTORY"], ["OPERATIONAL", "OPERATIONAL"], ["DISABLED", "DISABLED"]];

/** useProfileNames names profiles by ID for tables that show only IDs. */
export function useProfileNames() {
  const { data } = useApi<{ items: Profile[] }>("/api/v1/profiles?status=all&limit=100");
  const names = new Map<number, string>();
  for (const p of data?.items ?? []) names.set(p.id, p.name);
  return (id?: number | null) => (id == null ? "—" : names.get(id) ?? `#${id}`);
}

export function Devices({ query }: { query: URLSearchParams }) {
  const who = useSession();
  const params = new URLSearchParams();
  for (const k of ["mode", "device_type", "driver", "sort", "order", "after"]) if (query.get(k)) params.set(k, query.get(k)!);
  params.set("limit", "50");
  const list = useApi<{ items: Device[]; next?: string }>(`/api/v1/devices?${params}`);
  const profileName = useProfileNames();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const toggle = (id: string) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const canChange = may(who.role, "operator");
  return (
    <Page title="Devices" actions={canChange && <a class="button" href="/devices/import">Import CSV</a>}>
      <nav class="tabs" aria-label="Device lists">
        <a href="/devices" aria-current="page">All devices</a> <a href="/devices/missing">Without a valid certificate</a>
      </nav>
      <Filters query={query} fields={[
        { name: "mode", label: "Mode", options: modes },
        { name: "device_type", label: "Device type", placeholder: "camera" },
        { name: "driver", label: "Driver", placeholder: "agent" },
      ]} />
      <Failure message={list.error} />
      {canChange && <AssignProfile selected={[...selected]} onDone={() => (setSelected(new Set()), list.reload())} />}
      <Table caption="Devices" empty="No device matches." rows={list.data?.items} columns={[
        ...(canChange ? [{ label: "Select", render: (d: Device) => (
          <input type="checkbox" aria-label={`Select ${d.id}`} checked={selected.has(d.id)} onChange={() => toggle(d.id)} />
        ) }] : []),
        { label: "ID", sort: "id", render: (d) => <a href={`/devices/${encodeURIComponent(d.id)}`}>{d.id}</a> },
        { label: "Name", sort: "name", render: (d) => d.name },
        { label: "Mode", render: (d) => <Status value={d.mode} /> },
        { label: "Type", render: (d) => d.device_type },
        { label: "Profiles", render: (d) => (d.profile_ids ?? []).map(profileName).join(", ") || "—" },
        { label: "Driver", render: (d) => d.driver },
        { label: "Certificate expires", render: (d) => <When at={d.certificate_not_after} /> },
      ]} query={query} />
      <CursorPager next={list.data?.next} query={query} />
    </Page>
  );
}

/** AssignProfile gives the selected devices a profile; the API refuses, naming them, devices in an active job. */
function AssignProfile({ selected, onDone }: { selected: string[]; onDone: () => void }) {
  const profiles = useApi<{ items: Profile[] }>("/api/v1/profiles?limit=100");
  const form = useForm({ profile_id: "" });
  const [done, setDone] = useState("");
  const submit = form.submit(async (v) => {
    setDone("");
    try {
      await call("POST", "/api/v1/profile-assignments", { profile_id: Number(v.profile_id), device_ids: selected });
    } catch (e) {
      if (e instanceof ApiError && Array.isArray(e.details?.devices)) {
        throw new ApiError(e.status, e.code, `${e.message}: ${(e.details!.devices as string[]).join(", ")}`, "device_ids");
      }
      throw e;
    }
    setDone(`Profile assigned to ${selected.length} device(s).`);
    onDone();
  });
  return (
    <form class="inline-form" onSubmit={submit} aria-label="Assign a profile">
      <Field form={form} name="profile_id" label={`Assign a profile to the ${selected.length} selected`} options={[
        ["", "Choose a profile"], ...(profiles.data?.items ?? []).map((p): [string, string] => [String(p.id), `${p.name} (${p.cert_type})`]),
      ]} />
      <button type="submit" disabled={selected.length === 0 || form.busy}>Assign</button>
      {form.errorOf("device_ids") && <p class="field-error" role="alert">{form.errorOf("device_ids")}</p>}
      <FormError form={form} fields={["profile_id", "device_ids"]} />
      {done && <p role="status">{done}</p>}
    </form>
  );
}

export function DevicesWithoutCertificate({ query }: { query: URLSearchParams }) {
  const certType = query.get("cert_type") || "tls";
  const after = query.get("after");
  const list = useApi<{ items: Device[]; next?: string }>(`/api/v1/certificates/missing?cert_type=${certType}${after ? `&after=${encodeURIComponent(after)}` : ""}`);
  return (
    <Page title="Devices without a valid certificate">
      <nav class="tabs" aria-label="Device lists">
        <a href="/devices">All devices</a> <a href="/devices/missing" aria-current="page">Without a valid certificate</a>
      </nav>
      <Filters query={query} fields={[{ name: "cert_type", label: "Certificate type", options: [["tls", "TLS"], ["ieee8021x", "802.1X"]] }]} />
      <Failure message={list.error} />
      <Table caption="Devices without a valid certificate" empty="Every enabled device holds a valid certificate of this type." rows={list.data?.items} columns={[
        { label: "ID", render: (d) => <a href={`/devices/${encodeURIComponent(d.id)}`}>{d.id}</a> },
        { label: "Name", render: (d) => d.name },
        { label: "Type", render: (d) => d.device_type },
        { label: "Mode", render: (d) => <Status value={d.mode} /> },
      ]} />
      <CursorPager next={list.data?.next} query={query} />
    </Page>
  );
}

type ImportResult = { created: number; errors: { line: number; id?: string; field?: string; message: string }[] };

/** DeviceImport uploads a CSV and shows each refused row with its reason beside it. */
export function DeviceImport() {
  const [csv, setCsv] = useState("id,name,device_type,address,credential\n");
  const [allOrNothing, setAllOrNothing] = useState(true);
  const [result, setResult] = useState<ImportResult | null>(null);
  const [error, setError] = useState("");
  const upload = async (e: Event) => {
    e.preventDefault();
    setError("");
    setResult(null);
    try {
      setResult(await call<ImportResult>("POST", `/api/v1/devices/import${allOrNothing ? "?all_or_nothing=true" : ""}`, csv, "text/csv"));
    } catch (err) {
      if (err instanceof ApiError && Array.isArray(err.details?.errors)) {
        setResult({ created: 0, errors: err.details!.errors as ImportResult["errors"] });
        setError(err.message);
      } else setError(err instanceof Error ? err.message : String(err));
    }
  };
  const lines = csv.split("\n");
  return (
    <Page title="Import devices">
      <form class="stack" onSubmit={upload}>
        <div class="field">
          <label for="csv-file">CSV file</label>
          <input id="csv-file" type="file" accept=".csv,text/csv" onChange={async (e) => {
            const f = (e.target as HTMLInputElement).files?.[0];
            if (f) setCsv(await f.text());
          }} />
        </div>
        <div class="field">
          <label for="csv">CSV (columns id, name, device_type, driver, address, credential, enrollment_otp)</label>
          <textarea id="csv" rows={10} value={csv} onInput={(e) => setCsv((e.target as HTMLTextAreaElement).value)} aria-invalid={!!result?.errors.length} />
        </div>
        <div class="field check">
          <input id="all-or-nothing" type="checkbox" checked={allOrNothing} onChange={(e) => setAllOrNothing((e.target as HTMLInputElement).checked)} />
          <label for="all-or-nothing">All or nothing: create no device if any row is wrong</label>
        </div>
        <button type="submit">Import</button>
      </form>
      <Failure message={error} />
      {result && (
        <section aria-labelledby="import-result">
          <h2 id="import-result">{result.created} device(s) created{result.errors.length ? `, ${result.errors.length} row problem(s)` : ""}</h2>
          {result.errors.length > 0 && (
            <Table caption="Rows refused" empty="" rows={result.errors} columns={[
              { label: "Line", render: (r) => r.line, numeric: true },
              { label: "Row", render: (r) => <code>{lines[r.line - 1] ?? ""}</code> },
              { label: "Field", render: (r) => r.field ?? "—" },
              { label: "Problem", render: (r) => <span class="field-error">{r.message}</span> },
            ]} />
          )}
          {result.created > 0 && <a href="/devices">See the devices</a>}
        </section>
      )}
    </Page>
  );
}

type DeviceJob = { job_id: number; job_name: string; job_status: string; cert_type: string; step: string; state: string; last_error: string; finished_at?: string; workflow_id: string };

export function DevicePage({ id }: { id: string }) {
  const who = useSession();
  const device = useApi<Device>(`/api/v1/devices/${encodeURIComponent(id)}`);
  const certs = useApi<{ items: Certificate[] }>(`/api/v1/certificates?device_id=${encodeURIComponent(id)}&limit=100`);
  const jobs = useApi<{ items: DeviceJob[] }>(`/api/v1/devices/${encodeURIComponent(id)}/jobs`);
  const d = device.data;
  const runs = who.workflow_links ? `${who.workflow_links}?query=${encodeURIComponent(`DeviceId="${id}"`)}` : "";
  return (
    <Page title={`Device ${id}`} actions={d && (
      d.mode === "DISABLED" ? (
        <Action label="Enable" needs="operator" run={() => call("POST", `/api/v1/devices/${encodeURIComponent(id)}/enable`)} onDone={device.reload} />
      ) : (
        <Action label="Disable" needs="operator" danger confirm={`Disable ${id}? Jobs will skip it.`}
          run={() => call("POST", `/api/v1/devices/${encodeURIComponent(id)}/disable`)} onDone={device.reload} />
      )
    )}>
      <Failure message={device.error} />
      {d && (
        <dl class="facts">
          <dt>Name</dt><dd>{d.name}</dd>
          <dt>Mode</dt><dd><Status value={d.mode} /></dd>
          <dt>Type</dt><dd>{d.device_type}</dd>
          <dt>Driver</dt><dd>{d.driver}</dd>
          <dt>Address</dt><dd><code>{d.address || "—"}</code></dd>
          <dt>Credential</dt><dd>{d.credential || "—"}</dd>
          <dt>TLS pinned</dt><dd>{d.tls_pinned ? "yes" : "no"}</dd>
          {runs && (<><dt>Runs</dt><dd><a href={runs} target="_blank" rel="noopener">All its job and enrollment runs in the Temporal UI</a></dd></>)}
        </dl>
      )}
      <h2>Certificates</h2>
      <Failure message={certs.error} />
      <Table caption="Its certificates" empty="It holds no certificate certfleet knows." rows={certs.data?.items} columns={certificateColumns.filter((c) => c.label !== "Device")} />
      <h2>Jobs</h2>
      <Failure message={jobs.error} />
      <Table caption="Its jobs" empty="It has been in no job." rows={jobs.data?.items} columns={[
        { label: "Job", render: (j) => <a href={`/jobs/${j.job_id}`}>{j.job_name} (#{j.job_id})</a> },
        { label: "Type", render: (j) => j.cert_type },
        { label: "State", render: (j) => <Status value={j.state} /> },
        { label: "Step", render: (j) => j.step },
        { label: "Last error", render: (j) => j.last_error || "—" },
        { label: "Finished", render: (j) => <When at={j.finished_at} /> },
        { label: "Run", render: (j) => <RunLink workflowId={j.workflow_id} label="Temporal UI" /> },
      ]} />
      <p><a href="/devices" onClick={(e) => { if (history.length > 1) { e.preventDefault(); history.back(); } }}>Back</a></p>
    </Page>
  );
}

