// Certificate jobs: the list with each job's outcome bar, a form to start
// one, and the job's page with live progress, items by outcome, halt, and
// links to the runs in the Temporal UI.
import { call, may } from "../api";
import { navigate, withQuery } from "../router";
import { Action, Failure, Field, Filters, FormError, itemStates, OffsetPager, OutcomeBar, Page, RunLink, Status, Table, useApi, useForm, useSession, When, CursorPager } from "../ui";

export type ListedJob = {
  id: number;
  name: string;
  cert_type: string;
  created_by: string;
  status: string;
  scheduled_at: string;
  started_at?: string | null;
  completed_at?: string | null;
  workflow_id: string;
  outcomes: Record<string, number>;
};

const pageSize = 100;

export function Jobs({ query }: { query: URLSearchParams }) {
  const who = useSession();
  const params = new URLSearchParams({ state: query.get("state") || "all", sort: query.get("sort") || "scheduled_at", order: query.get("order") || "desc" });
  const csv = `/api/v1/jobs.csv?${params}`;
  const offset = Number(query.get("offset") || 0);
  params.set("offset", String(offset));
  params.set("limit", String(pageSize));
  const list = useApi<{ items: ListedJob[] }>(`/api/v1/jobs?${params}`, 5000);
  const q = new URLSearchParams(query);
  if (!q.get("sort")) (q.set("sort", "scheduled_at"), q.set("order", "desc"));
  return (
    <Page title="Jobs" actions={<>
      {may(who.role, "operator") && <a class="button" href="/jobs/new">New job</a>}{" "}
      <a class="button secondary" href={csv} download>Export CSV</a>
    </>}>
      <Filters query={query} fields={[{ name: "state", label: "Jobs", options: [["all", "All"], ["active", "Active"], ["closed", "Finished"]] }]} />
      <Failure message={list.error} />
      <Table caption="Jobs" empty="No job yet." rows={list.data?.items} query={q} columns={[
        { label: "Name", sort: "name", render: (j) => <a href={`/jobs/${j.id}`}>{j.name}</a> },
        { label: "Status", render: (j) => <Status value={j.status} /> },
        { label: "Outcomes", render: (j) => <OutcomeBar outcomes={j.outcomes} /> },
        { label: "Type", render: (j) => j.cert_type },
        { label: "By", sort: "created_by", render: (j) => j.created_by },
        { label: "Scheduled", sort: "scheduled_at", render: (j) => <When at={j.scheduled_at} /> },
        { label: "Finished", sort: "completed_at", render: (j) => <When at={j.completed_at} /> },
      ]} />
      <OffsetPager offset={offset} limit={pageSize} shown={list.data?.items.length ?? 0} />
    </Page>
  );
}

export function NewJob({ query }: { query: URLSearchParams }) {
  const form = useForm({
    name: "",
    cert_type: "tls",
    selection: query.get("devices") ? "ids" : "filter",
    device_ids: (query.get("devices") ?? "").split(",").filter(Boolean).join("\n"),
    device_type: "",
    mode: "",
    driver: "",
    start_at: "",
  });
  const v = form.values;
  const start = form.submit(async (v) => {
    const body: Record<string, unknown> = { name: v.name, cert_type: v.cert_type };
    if (v.selection === "ids") body.device_ids = v.device_ids.split(/[\s,]+/).filter(Boolean);
    else body.device_filter = { device_type: v.device_type, mode: v.mode, driver: v.driver };
    if (v.start_at) body.start_at = new Date(v.start_at).toISOString();
    const job = await call<{ id: number }>("POST", "/api/v1/jobs", body);
    navigate(`/jobs/${job.id}`);
  });
  return (
    <Page title="New job">
      <form class="stack" onSubmit={start} aria-label="New job">
        <Field form={form} name="name" label="Name" required />
        <Field form={form} name="cert_type" label="Certificate type" options={[["tls", "TLS"], ["ieee8021x", "802.1X"]]} />
        <Field form={form} name="selection" label="Devices" options={[["filter", "Every device matching a filter"], ["ids", "These device IDs"]]} />
        {v.selection === "ids" ? (
          <Field form={form} name="device_ids" label="Device IDs, one per line" rows={6} />
        ) : (
          <div class="row">
            <Field form={form} name="device_type" label="Device type" hint="empty: any" />
            <Field form={form} name="mode" label="Mode" options={[["", "Any"], ["NEW", "NEW"], ["FACTORY", "FACTORY"], ["OPERATIONAL", "OPERATIONAL"]]} />
            <Field form={form} name="driver" label="Driver" hint="empty: any" />
          </div>
        )}
        <Field form={form} name="start_at" label="Start at" type="datetime-local" hint="empty: now" />
        <FormError form={form} fields={["name", "cert_type", "device_ids", "device_filter", "device_type", "mode", "driver", "start_at"]} />
        {form.errorOf("device_filter") && <p class="field-error" role="alert">{form.errorOf("device_filter")}</p>}
        <button type="submit" disabled={form.busy}>Start job</button>
      </form>
    </Page>
  );
}

type JobDetail = {
  job: ListedJob;
  outcomes: Record<string, number>;
  in_progress_by_step: Record<string, number>;
  skipped: { device_id: string; reason: string }[];
  retried_items: number;
  live?: { in_flight?: number };
};

type Item = { device_id: string; step: string; state: string; last_error: string; finished_at?: string; workflow_id: string; issued_certificate_id?: number | null };

export function JobPage({ id, query }: { id: string; query: URLSearchParams }) {
  const detail = useApi<JobDetail>(`/api/v1/jobs/${id}`, 2000);
  const state = query.get("state") ?? "";
  const after = query.get("after");
  const items = useApi<{ items: Item[]; next?: string }>(
    `/api/v1/jobs/${id}/items?limit=50${state ? `&state=${state}` : ""}${after ? `&after=${encodeURIComponent(after)}` : ""}`,
    detail.data?.job.completed_at ? 0 : 3000,
  );
  const d = detail.data;
  const total = d ? Object.values(d.outcomes).reduce((a, b) => a + b, 0) : 0;
  const done = d ? total - (d.outcomes.pending ?? 0) - (d.outcomes.in_progress ?? 0) : 0;
  const running = d && !d.job.completed_at;
  return (
    <Page title={d ? `Job ${d.job.name}` : `Job ${id}`} actions={d && <>
      {running && d.job.status !== "halting" && (
        <Action label="Halt" needs="operator" danger confirm="Halt this job? Items not yet started will not start."
          run={() => call("POST", `/api/v1/jobs/${id}/halt`)} onDone={detail.reload} />
      )}
      {!running && (d.outcomes.device_failure || d.outcomes.ca_failure || d.outcomes.halted) ? (
        <Action label="Retry failed items" needs="operator" run={async () => {
          const j = await call<{ id: number }>("POST", `/api/v1/jobs/${id}/retry`);
          navigate(`/jobs/${j.id}`);
        }} />
      ) : null}
    </>}>
      <Failure message={detail.error} />
      {d && (
        <>
          <dl class="facts">
            <dt>Status</dt><dd><Status value={d.job.status} /></dd>
            <dt>Progress</dt><dd>
              <progress max={total} value={done} aria-label="Items finished" /> {done.toLocaleString()} of {total.toLocaleString()} finished
            </dd>
            <dt>Type</dt><dd>{d.job.cert_type}</dd>
            <dt>Created by</dt><dd>{d.job.created_by}</dd>
            <dt>Scheduled</dt><dd><When at={d.job.scheduled_at} /></dd>
            <dt>Finished</dt><dd><When at={d.job.completed_at} /></dd>
            <dt>Run</dt><dd><RunLink workflowId={d.job.workflow_id} label={`${d.job.workflow_id} in the Temporal UI`} /></dd>
          </dl>
          <h2>Outcomes</h2>
          <OutcomeBar outcomes={d.outcomes} />
          {running && Object.keys(d.in_progress_by_step).length > 0 && (
            <p>In progress by step: {Object.entries(d.in_progress_by_step).map(([s, n]) => `${s} ${n}`).join(", ")}</p>
          )}
        </>
      )}
      <h2>Items</h2>
      <nav class="tabs" aria-label="Items by state">
        <a href={withQuery({ state: undefined })} aria-current={state === "" ? "page" : undefined}>All</a>
        {itemStates.filter(([s]) => (d?.outcomes[s] ?? 0) > 0).map(([s, l]) => (
          <a href={withQuery({ state: s })} aria-current={state === s ? "page" : undefined}>{l} ({d!.outcomes[s]})</a>
        ))}
      </nav>
      <Failure message={items.error} />
      <Table caption="Job items" empty="No item in this state." rows={items.data?.items} columns={[
        { label: "Device", render: (i) => <a href={`/devices/${encodeURIComponent(i.device_id)}`}>{i.device_id}</a> },
        { label: "State", render: (i) => <Status value={i.state} /> },
        { label: "Step", render: (i) => i.step },
        { label: "Last error", render: (i) => i.last_error || "—" },
        { label: "Certificate", render: (i) => (i.issued_certificate_id ? <a href={`/certificates/${i.issued_certificate_id}`}>{i.issued_certificate_id}</a> : "—") },
        { label: "Finished", render: (i) => <When at={i.finished_at} /> },
        { label: "Run", render: (i) => <RunLink workflowId={i.workflow_id} label="Temporal UI" /> },
      ]} />
      <CursorPager next={items.data?.next} query={query} />
    </Page>
  );
}

