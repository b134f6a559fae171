// Certificate profiles: active and archived, and a form to create or edit
// one with its subject, SAN and key rules, key usage and extended key usage,
// validity, renewal and approval.
import { call, may } from "../api";
import { navigate } from "../router";
import { Action, Choices, CursorPager, Failure, Field, Filters, FormError, Page, Status, Table, useApi, useForm, useSession } from "../ui";

export type Profile = {
  id: number;
  name: string;
  cert_type: string;
  device_type: string;
  subject_rules: unknown[];
  san_rules: unknown[] | null;
  extra_attributes: unknown[] | null;
  key_algorithms: unknown[];
  key_usage: string[] | null;
  ext_key_usage: string[] | null;
  validity_days: number;
  renew_before_days: number;
  ca_driver: string;
  ca_settings: unknown;
  approval_mode: boolean;
  max_ca_wait_hours: number;
  binding: string;
  device_trust: string;
  archived: boolean;
};

export function Profiles({ query }: { query: URLSearchParams }) {
  const who = useSession();
  const status = query.get("status") || "active";
  const after = query.get("after");
  const list = useApi<{ items: Profile[]; next?: string }>(`/api/v1/profiles?status=${status}&limit=50${after ? `&after=${after}` : ""}`);
  return (
    <Page title="Profiles" actions={may(who.role, "admin") && <a class="button" href="/profiles/new">New profile</a>}>
      <Filters query={query} fields={[{ name: "status", label: "Show", options: [["active", "Active"], ["archived", "Archived"], ["all", "All"]] }]} />
      <Failure message={list.error} />
      <Table caption="Profiles" empty="No profile here yet." rows={list.data?.items} columns={[
        { label: "Name", render: (p) => <a href={`/profiles/${p.id}`}>{p.name}</a> },
        { label: "Type", render: (p) => p.cert_type },
        { label: "Device type", render: (p) => p.device_type },
        { label: "Validity", render: (p) => `${p.validity_days} d`, numeric: true },
        { label: "Renew before", render: (p) => `${p.renew_before_days} d`, numeric: true },
        { label: "Approval", render: (p) => (p.approval_mode ? "manual" : "automatic") },
        { label: "CA", render: (p) => p.ca_driver },
        { label: "State", render: (p) => <Status value={p.archived ? "archived" : "active"} /> },
      ]} />
      <CursorPager next={list.data?.next} query={query} />
    </Page>
  );
}

const json = (v: unknown) => JSON.stringify(v ?? [], null, 1);

// RFC 5280's key usages a device certificate may have (the API refuses
// keyCertSign and cRLSign), and the extended key usages it knows by name
// (it refuses OCSPSigning); others are dotted OIDs.
const keyUsages: [string, string][] = [
  ["digitalSignature", "digitalSignature"], ["contentCommitment", "contentCommitment (nonRepudiation)"],
  ["keyEncipherment", "keyEncipherment"], ["dataEncipherment", "dataEncipherment"], ["keyAgreement", "keyAgreement"],
  ["encipherOnly", "encipherOnly"], ["decipherOnly", "decipherOnly"],
];
const extKeyUsages: [string, string][] = [
  ["serverAuth", "serverAuth"], ["clientAuth", "clientAuth"], ["codeSigning", "codeSigning"],
  ["emailProtection", "emailProtection"], ["timeStamping", "timeStamping"],
];
const named = (list: [string, string][]) => list.map(([v]) => v);

/** inOrder keeps the entries of before that are still chosen where they
 * were, then adds the new ones: the EKU extension lists them in this order. */
function inOrder(before: string[], chosen: string[]): string[] {
  return [...before.filter((v) => chosen.includes(v)), ...chosen.filter((v) => !before.includes(v))];
}

/** oids reads the extra EKU field: dotted OIDs, separated by commas or spaces. */
const oids = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** parse reads a JSON field, refusing it beside the field when it is not JSON. */
function parse(name: string, text: string): unknown {
  try {
    return JSON.parse(text || "null");
  } catch {
    throw Object.assign(new Error(`${name}: not valid JSON`), { field: name });
  }
}

export function ProfilePage({ id }: { id?: string }) {
  const who = useSession();
  const existing = useApi<Profile>(id ? `/api/v1/profiles/${id}` : null);
  if (id && !existing.data) return <Page title="Profile"><Failure message={existing.error} />{!existing.error && <p>Loading…</p>}</Page>;
  const p = existing.data;
  return (
    <Page title={p ? `Profile ${p.name}` : "New profile"} actions={p && (
      p.archived ? (
        <Action label="Unarchive" needs="admin" run={() => call("POST", `/api/v1/profiles/${p.id}/unarchive`)} onDone={existing.reload} />
      ) : (
        <Action label="Archive" needs="admin" confirm={`Archive ${p.name}? No new job or enrollment will use it.`}
          run={() => call("POST", `/api/v1/profiles/${p.id}/archive`)} onDone={existing.reload} />
      )
    )}>
      {p?.archived && <p class="notice">This profile is archived.</p>}
      <ProfileForm profile={p ?? undefined} readOnly={!may(who.role, "admin")} key={p?.id ?? "new"} />
    </Page>
  );
}

function ProfileForm({ profile: p, readOnly }: { profile?: Profile; readOnly: boolean }) {
  const form = useForm({
    name: p?.name ?? "",
    cert_type: p?.cert_type ?? "tls",
    device_type: p?.device_type ?? "camera",
    subject_rules: json(p?.subject_rules ?? [{ attr: "CN", rule: "from_csr" }]),
    san_rules: json(p?.san_rules ?? []),
    key_algorithms: json(p?.key_algorithms ?? [{ algorithm: "ecdsa", sizes: [256] }]),
    // nonRepudiation is contentCommitment's older name; the API takes both.
    key_usage: (p?.key_usage ?? []).map((k) => (k === "nonRepudiation" ? "contentCommitment" : k)),
    ext_key_usage: (p?.ext_key_usage ?? []).filter((e) => named(extKeyUsages).includes(e)),
    // Whatever the checkboxes do not show stays here, so that saving drops nothing.
    ext_key_usage_oids: (p?.ext_key_usage ?? []).filter((e) => !named(extKeyUsages).includes(e)).join(", "),
    validity_days: String(p?.validity_days ?? 365),
    renew_before_days: String(p?.renew_before_days ?? 30),
    approval_mode: p?.approval_mode ?? false,
    max_ca_wait_hours: String(p?.max_ca_wait_hours ?? 72),
    ca_driver: p?.ca_driver ?? "",
  });
  const save = form.submit(async (v) => {
    const body = {
      ...(p ?? {}),
      name: v.name, cert_type: v.cert_type, device_type: v.device_type,
      subject_rules: parse("subject_rules", v.subject_rules), san_rules: parse("san_rules", v.san_rules),
      key_algorithms: parse("key_algorithms", v.key_algorithms),
      key_usage: inOrder(p?.key_usage ?? [], v.key_usage),
      ext_key_usage: inOrder(p?.ext_key_usage ?? [], [...v.ext_key_usage, ...oids(v.ext_key_usage_oids)]),
      validity_days: Number(v.validity_days), renew_before_days: Number(v.renew_before_days),
      approval_mode: v.approval_mode, max_ca_wait_hours: Number(v.max_ca_wait_hours), ca_driver: v.ca_driver,
    };
    const saved = await call<Profile>(p ? "PUT" : "POST", p ? `/api/v1/profiles/${p.id}` : "/api/v1/profiles", body);
    navigate(`/profiles/${saved.id}`);
  });
  return (
    <form class="stack" onSubmit={save} aria-label="Profile">
      <fieldset disabled={readOnly}>
        <Field form={form} name="name" label="Name" required />
        <Field form={form} name="cert_type" label="Certificate type" options={[["tls", "TLS"], ["ieee8021x", "802.1X"]]} />
        <Field form={form} name="device_type" label="Device type" required />
        <Field form={form} name="subject_rules" label="Subject rules (JSON)" rows={4} hint='e.g. [{"attr":"CN","rule":"from_csr"}]' />
        <Field form={form} name="san_rules" label="SAN rules (JSON)" rows={3}
          hint='types dns, ip, email, uri, hardware_module_name; e.g. [{"type":"dns","rule":"from_csr"}], or for Wi-SUN [{"type":"hardware_module_name","rule":"from_csr","hw_type":"1.3.6.1.4.1.45605.1.2","pattern":"WS-[0-9]+"}] (hw_type is required; the serial is matched as text, or as 0x and hex when not printable)' />
        <Field form={form} name="key_algorithms" label="Key rules (JSON)" rows={3} hint='e.g. [{"algorithm":"ecdsa","sizes":[256]}]' />
        <Choices form={form} name="key_usage" label="Key usage" options={keyUsages}
          hint="none: digitalSignature, and keyEncipherment for RSA keys" />
        <Choices form={form} name="ext_key_usage" label="Extended key usage" options={extKeyUsages}
          hint="none (and no OID below): clientAuth for 802.1X, serverAuth and clientAuth for TLS" />
        <Field form={form} name="ext_key_usage_oids" label="Other extended key usages (dotted OIDs)" hint="e.g. 1.3.6.1.4.1.45605.1 for Wi-SUN; separated by commas" />
        <Field form={form} name="validity_days" label="Validity (days)" type="number" />
        <Field form={form} name="renew_before_days" label="Renew before expiry (days)" type="number" />
        <Field form={form} name="approval_mode" label="Each CA request waits for an operator's approval" type="checkbox" />
        <Field form={form} name="max_ca_wait_hours" label="Longest wait for the CA (hours)" type="number" />
        <Field form={form} name="ca_driver" label="CA driver" hint="empty: the built-in CA" />
        <FormError form={form} fields={["name", "cert_type", "device_type", "subject_rules", "san_rules", "key_algorithms", "key_usage", "ext_key_usage", "validity_days",
          "renew_before_days", "approval_mode", "max_ca_wait_hours", "ca_driver"]} />
        {!readOnly && <button type="submit" disabled={form.busy}>{p ? "Save" : "Create profile"}</button>}
      </fieldset>
    </form>
  );
}
