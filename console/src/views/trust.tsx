// Trust anchors: outside CAs whose device certificates certfleet accepts.
// Upload, prove possession of the CA's key (a code signed with it), enable
// and disable, and revocations entered by hand for CAs without a CRL.
import { useState } from "preact/hooks";
import { call, may } from "../api";
import { Action, Failure, Field, FormError, Page, Status, Table, useApi, useForm, useSession, When } from "../ui";

type Anchor = {
  id: number;
  name: string;
  subject: string;
  sha256: string;
  not_after: string;
  enabled: boolean;
  verified: boolean;
  verified_at?: string | null;
  auto_register: boolean;
  name_mapping: string;
  legacy_unproven?: boolean;
};

export function TrustAnchors() {
  const who = useSession();
  const list = useApi<{ items: Anchor[] }>("/api/v1/trust-anchors");
  const [proving, setProving] = useState<Anchor | null>(null);
  return (
    <Page title="Trust anchors">
      <Failure message={list.error} />
      <Table caption="Trust anchors" empty="No trust anchor yet." rows={list.data?.items} columns={[
        { label: "Name", render: (a) => a.name },
        { label: "Subject", render: (a) => a.subject },
        { label: "Expires", render: (a) => <When at={a.not_after} /> },
        { label: "Proof of possession", render: (a) => (a.verified ? <>proven <When at={a.verified_at} /></> : <Status value="unproven" />) },
        { label: "State", render: (a) => <Status value={a.enabled ? "enabled" : "disabled"} /> },
        { label: "Actions", render: (a) => (
          <span class="decide">
            {!a.verified && may(who.role, "admin") && <button type="button" class="secondary" onClick={() => setProving(a)}>Prove</button>}
            {a.enabled ? (
              <Action label="Disable" needs="admin" danger run={() => call("POST", `/api/v1/trust-anchors/${a.id}/disable`)} onDone={list.reload} />
            ) : (
              <Action label="Enable" needs="admin" run={() => call("POST", `/api/v1/trust-anchors/${a.id}/enable`)} onDone={list.reload} />
            )}
          </span>
        ) },
      ]} />
      {proving && <Prove anchor={proving} onDone={() => (setProving(null), list.reload())} />}
      {may(who.role, "admin") && <Upload onDone={list.reload} />}
      {may(who.role, "admin") && list.data && list.data.items.length > 0 && <OfflineRevocation anchors={list.data.items} />}
    </Page>
  );
}

function Upload({ onDone }: { onDone: () => void }) {
  const form = useForm({ name: "", pem: "", auto_register: false });
  return (
    <section aria-labelledby="upload">
      <h2 id="upload">Upload a CA certificate</h2>
      <form class="stack" aria-label="Upload a trust anchor" onSubmit={form.submit(async (v) => {
        await call("POST", "/api/v1/trust-anchors", { name: v.name, pem: v.pem, auto_register: v.auto_register });
        form.setValues({ name: "", pem: "", auto_register: false });
        onDone();
      })}>
        <Field form={form} name="name" label="Name" required />
        <Field form={form} name="pem" label="CA certificate (PEM)" rows={6} required />
        <Field form={form} name="auto_register" label="Register unknown devices that present a certificate from this CA" type="checkbox" />
        <FormError form={form} fields={["name", "pem", "auto_register"]} />
        <button type="submit" disabled={form.busy}>Upload</button>
      </form>
    </section>
  );
}

/** Prove walks the proof of possession: a one-time code, signed with the CA's key. */
function Prove({ anchor, onDone }: { anchor: Anchor; onDone: () => void }) {
  const [code, setCode] = useState("");
  const [command, setCommand] = useState("");
  const [error, setError] = useState("");
  const form = useForm({ signature: "" });
  const ask = async () => {
    setError("");
    try {
      const r = await call<{ code: string; sign_with: string }>("POST", `/api/v1/trust-anchors/${anchor.id}/verification-code`);
      setCode(r.code);
      setCommand(r.sign_with);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <section aria-labelledby="prove" class="panel">
      <h2 id="prove">Prove possession of {anchor.name}'s key</h2>
      <ol>
        <li>
          <button type="button" onClick={ask}>Get a verification code</button> <Failure message={error} />
          {code && <p>Code: <code id="verification-code">{code}</code></p>}
        </li>
        <li>Sign it with the CA's private key, where the key lives: write the code, without a newline, to <code>code.txt</code> and run <code>{command || "openssl dgst -sha256 -sign ca.key code.txt | openssl base64 -A"}</code></li>
        <li>
          <form class="stack" aria-label="Proof" onSubmit={form.submit(async (v) => {
            await call("POST", `/api/v1/trust-anchors/${anchor.id}/proof`, { code, signature: v.signature.trim() });
            onDone();
          })}>
            <Field form={form} name="signature" label="Signature (base64)" rows={3} required />
            <FormError form={form} fields={["signature"]} />
            <button type="submit" disabled={!code || form.busy}>Prove</button>
          </form>
        </li>
      </ol>
    </section>
  );
}

function OfflineRevocation({ anchors }: { anchors: Anchor[] }) {
  const form = useForm({ anchor: String(anchors[0].id), serial: "", date: "" });
  const [done, setDone] = useState("");
  return (
    <section aria-labelledby="offline">
      <h2 id="offline">Revoke a certificate of a trust anchor</h2>
      <p class="hint">For CAs that publish no CRL certfleet can reach: devices presenting this serial are refused.</p>
      <form class="inline-form" aria-label="Offline revocation" onSubmit={form.submit(async (v) => {
        setDone("");
        const r = await call<{ added: boolean }>("POST", `/api/v1/trust-anchors/${v.anchor}/revocations`, { serial: v.serial, date: v.date || undefined });
        setDone(r.added ? `Serial ${v.serial} revoked.` : `Serial ${v.serial} was already revoked.`);
      })}>
        <Field form={form} name="anchor" label="Trust anchor" options={anchors.map((a): [string, string] => [String(a.id), a.name])} />
        <Field form={form} name="serial" label="Serial (hex)" required />
        <Field form={form} name="date" label="Revoked on (YYYY-MM-DD)" />
        <button type="submit" disabled={form.busy}>Revoke serial</button>
        <FormError form={form} fields={["serial", "date"]} />
        {done && <p role="status">{done}</p>}
      </form>
    </section>
  );
}
