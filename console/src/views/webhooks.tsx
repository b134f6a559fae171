// Webhooks: URLs subscribed to certfleet's events, and each one's delivery
// log. An admin adds, pings, disables and deletes them; the signing secret
// is a bearer credential of the credential store, named, never shown.
import { call, may } from "../api";
import { Action, Choices, Failure, Field, Filters, FormError, Page, Status, Table, useApi, useForm, useSession, When } from "../ui";

type Webhook = { name: string; url: string; events: string[]; secret_credential: string; disabled_at?: string | null; created_at: string; created_by: string };
type Delivery = { event_id: string; type: string; status: string; attempts: number; last_status?: number | null; last_error: string; created_at: string; updated_at: string };

export function Webhooks() {
  const who = useSession();
  const list = useApi<{ items: Webhook[]; event_types: string[] }>("/api/v1/webhooks");
  return (
    <Page title="Webhooks">
      <p class="hint">certfleet POSTs each event to the webhooks subscribed to it, signed with HMAC-SHA256, and retries while the receiver is down.</p>
      <Failure message={list.error} />
      <Table caption="Webhooks" empty="No webhook: nothing is told of events." rows={list.data?.items} columns={[
        { label: "Name", render: (h) => <a href={`/webhooks/${encodeURIComponent(h.name)}`}>{h.name}</a> },
        { label: "URL", render: (h) => <code>{h.url}</code> },
        { label: "Events", render: (h) => h.events.join(", ") },
        { label: "Signed with", render: (h) => h.secret_credential },
        { label: "State", render: (h) => <Status value={h.disabled_at ? "disabled" : "enabled"} /> },
        { label: "Actions", render: (h) => <WebhookActions hook={h} onDone={list.reload} /> },
      ]} />
      {may(who.role, "admin") && list.data && <AddWebhook eventTypes={list.data.event_types} onDone={list.reload} />}
    </Page>
  );
}

function WebhookActions({ hook, onDone }: { hook: Webhook; onDone: () => void }) {
  const path = `/api/v1/webhooks/${encodeURIComponent(hook.name)}`;
  return (
    <span class="decide">
      <Action label="Ping" needs="admin" run={() => call("POST", `${path}/ping`)} onDone={onDone} />
      {hook.disabled_at ? (
        <Action label="Enable" needs="admin" run={() => call("POST", `${path}/enable`)} onDone={onDone} />
      ) : (
        <Action label="Disable" needs="admin" danger confirm={`Disable webhook ${hook.name}? Deliveries under way stop.`} run={() => call("POST", `${path}/disable`)} onDone={onDone} />
      )}
      <Action label="Delete" needs="admin" danger confirm={`Delete webhook ${hook.name} and its delivery log?`} run={() => call("DELETE", path)} onDone={onDone} />
    </span>
  );
}

function AddWebhook({ eventTypes, onDone }: { eventTypes: string[]; onDone: () => void }) {
  const blank = { name: "", url: "", events: [] as string[], secret_credential: "" };
  const credentials = useApi<{ items: { name: string; kind: string }[] }>("/api/v1/credentials");
  const form = useForm(blank);
  const bearers = (credentials.data?.items ?? []).filter((c) => c.kind === "bearer").map((c): [string, string] => [c.name, c.name]);
  return (
    <section aria-labelledby="add-webhook">
      <h2 id="add-webhook">Add a webhook</h2>
      <form class="stack" aria-label="Add a webhook" onSubmit={form.submit(async (v) => {
        await call("POST", "/api/v1/webhooks", v);
        form.setValues(blank);
        onDone();
      })}>
        <Field form={form} name="name" label="Name (lowercase, e.g. ops)" required />
        <Field form={form} name="url" label="URL the events are POSTed to" type="url" required />
        <Choices form={form} name="events" label="Events" options={eventTypes.map((e) => [e, e])} />
        <Field form={form} name="secret_credential" label="Signing secret: a bearer credential" options={[["", "choose one"], ...bearers]}
          hint="Add one under Credentials (kind bearer) first." />
        <FormError form={form} fields={["name", "url", "events", "secret_credential"]} />
        <button type="submit" disabled={form.busy}>Add webhook</button>
      </form>
    </section>
  );
}

export function WebhookPage({ name, query }: { name: string; query: URLSearchParams }) {
  const status = query.get("status") ?? "";
  const log = useApi<{ items: Delivery[] }>(`/api/v1/webhooks/${encodeURIComponent(name)}/deliveries${status ? `?status=${status}` : ""}`, 5000);
  return (
    <Page title={`Webhook ${name}`}>
      <h2>Delivery log</h2>
      <Filters query={query} fields={[{ name: "status", label: "Status", options: [["", "Every delivery"], ["pending", "Pending"], ["delivered", "Delivered"], ["failed", "Failed"]] }]} />
      <Failure message={log.error} />
      <Table caption="Deliveries, newest first" empty="No delivery." rows={log.data?.items} columns={[
        { label: "Event", render: (d) => <code>{d.event_id}</code> },
        { label: "Type", render: (d) => d.type },
        { label: "Status", render: (d) => <Status value={d.status} /> },
        { label: "Attempts", render: (d) => d.attempts, numeric: true },
        { label: "Last answer", render: (d) => (d.last_status ? `HTTP ${d.last_status}` : "—") },
        { label: "Last error", render: (d) => d.last_error || "—" },
        { label: "Last try", render: (d) => <When at={d.updated_at} /> },
      ]} />
    </Page>
  );
}
