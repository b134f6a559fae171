// Certificate authorities: the built-in CAs with their chains, addresses and
// the profiles that issue from them, and an issuing CA added under an
// outside root in two steps (its CSR, then the certificate the root signed).
import { call, may } from "../api";
import { Failure, Field, FormError, Page, Status, useApi, useForm, useSession, When } from "../ui";

type CertInfo = { subject: string; issuer: string; serial: string; key_algorithm: string; not_before: string; not_after: string; sha256: string; pem: string };

type CA = {
  name: string;
  status: string;
  activates_at?: string | null;
  outside_root: boolean;
  issuing?: CertInfo;
  chain?: CertInfo[];
  crl_url?: string;
  ocsp_url?: string;
  ca_issuers_url?: string;
  profiles: { id: number; name: string }[];
  labels: string[];
  csr_pem?: string;
  created_by?: string;
  created_at: string;
};

export function CAs() {
  const who = useSession();
  const list = useApi<{ items: CA[] }>("/api/v1/cas");
  return (
    <Page title="Certificate authorities">
      <Failure message={list.error} />
      {!list.data ? <p>Loading…</p> : list.data.items.map((ca, _, all) => (ca.status === "pending" ? <Pending ca={ca} onDone={list.reload} /> :
        <Active ca={ca} renewable={!all.some((o) => o.name === ca.name && o.status === "next")} onDone={list.reload} />))}
      {may(who.role, "admin") && <RequestCA onDone={list.reload} />}
    </Page>
  );
}

function Active({ ca, renewable, onDone }: { ca: CA; renewable: boolean; onDone: () => void }) {
  const who = useSession();
  const id = `ca-${ca.name}-${ca.issuing?.serial}`;
  return (
    <section class="panel" aria-labelledby={id}>
      <h2 id={id}>{ca.name} <Status value={ca.status} /></h2>
      {ca.status === "next" && <p>Published beside the active CA; issues from <When at={ca.activates_at} />.</p>}
      {ca.status === "retired" && <p>Issues nothing more; its CRL and OCSP answers stay for the certificates it issued.</p>}
      <table class="chain">
        <caption class="visually-hidden">The chain of {ca.name}, issuing CA first</caption>
        <thead><tr><th scope="col">Role</th><th scope="col">Subject</th><th scope="col">Key</th><th scope="col">Valid</th><th scope="col">SHA-256</th></tr></thead>
        <tbody>
          {[ca.issuing!, ...(ca.chain ?? [])].map((c, i, all) => (
            <tr>
              <td>{i === 0 ? "issuing" : i === all.length - 1 ? (ca.outside_root ? "root (outside)" : "root") : "intermediate (outside)"}</td>
              <td>{c.subject}</td>
              <td>{c.key_algorithm}</td>
              <td><When at={c.not_before} /> to <When at={c.not_after} /></td>
              <td><code class="serial">{c.sha256}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
      <dl class="facts">
        <dt>Profiles</dt><dd>{ca.profiles.length ? ca.profiles.map((p) => p.name).join(", ") : "none"}</dd>
        <dt>Labels</dt><dd>{ca.labels.length ? ca.labels.join(", ") : "none"}</dd>
        {ca.crl_url && <><dt>CRL</dt><dd><a href={ca.crl_url}>{ca.crl_url}</a></dd></>}
        {ca.ocsp_url && <><dt>OCSP</dt><dd><code>{ca.ocsp_url}</code></dd></>}
        {ca.ca_issuers_url && <><dt>CA certificate</dt><dd><a href={ca.ca_issuers_url} download>DER</a> · <a href={ca.ca_issuers_url.replace(/\.crt$/, ".pem")} download>chain, PEM</a></dd></>}
      </dl>
      {ca.status === "active" && renewable && !ca.outside_root && may(who.role, "admin") && <Renew name={ca.name} onDone={onDone} />}
    </section>
  );
}

/** Pending shows a CA's CSR for the outside root and takes back what it signed. */
function Pending({ ca, onDone }: { ca: CA; onDone: () => void }) {
  const who = useSession();
  const form = useForm({ certificate: "", chain: "" });
  return (
    <section class="panel" aria-labelledby={`ca-${ca.name}`}>
      <h2 id={`ca-${ca.name}`}>{ca.name} <Status value="pending" /></h2>
      <p>Requested by {ca.created_by} on <When at={ca.created_at} />. Have your root sign this CSR as a CA (CA:TRUE, pathlen:0, keyCertSign and cRLSign, with a subject key identifier), then give certfleet the certificate and the chain up to the root.</p>
      <pre class="pem" aria-label={`The CSR of ${ca.name}`}>{ca.csr_pem}</pre>
      <p class="actions"><a class="button secondary" href={`/api/v1/cas/${encodeURIComponent(ca.name)}/csr`} download={`${ca.name}.csr`}>Download CSR</a></p>
      {may(who.role, "admin") && (
        <form class="stack" aria-label={`Certificate of ${ca.name}`} onSubmit={form.submit(async (v) => {
          await call("POST", `/api/v1/cas/${encodeURIComponent(ca.name)}/certificate`, v);
          onDone();
        })}>
          <Field form={form} name="certificate" scope={`${ca.name}-`} label="The signed certificate (PEM)" rows={6} required />
          <Field form={form} name="chain" scope={`${ca.name}-`} label="The chain above it, up to the root (PEM)" rows={6} required />
          <FormError form={form} fields={["certificate", "chain"]} />
          <button type="submit" disabled={form.busy}>Put the CA to work</button>
        </form>
      )}
    </section>
  );
}

function RequestCA({ onDone }: { onDone: () => void }) {
  const form = useForm({ name: "", common_name: "", organization: "", key: "ecdsa-p256" });
  return (
    <section aria-labelledby="request-ca">
      <h2 id="request-ca">Add an issuing CA under your own root</h2>
      <p class="hint">certfleet makes the key and keeps it sealed; you get a CSR for your root to sign.</p>
      <form class="stack" aria-label="Add an issuing CA" onSubmit={form.submit(async (v) => {
        await call("POST", "/api/v1/cas", v);
        form.setValues({ name: "", common_name: "", organization: "", key: "ecdsa-p256" });
        onDone();
      })}>
        <Field form={form} name="name" label="Name (profiles name the CA by it)" required />
        <Field form={form} name="common_name" label="Common name" required />
        <Field form={form} name="organization" label="Organization" />
        <Field form={form} name="key" label="Key" options={[["ecdsa-p256", "ECDSA P-256"], ["ecdsa-p384", "ECDSA P-384"], ["rsa-2048", "RSA 2048"], ["rsa-3072", "RSA 3072"], ["rsa-4096", "RSA 4096"]]} />
        <FormError form={form} fields={["name", "common_name", "organization", "key"]} />
        <button type="submit" disabled={form.busy}>Make the key and the CSR</button>
      </form>
    </section>
  );
}

/** Renew publishes the CA's next issuing CA, which issues once the overlap has passed. */
function Renew({ name, onDone }: { name: string; onDone: () => void }) {
  const form = useForm({ overlap: "168h" });
  return (
    <form class="inline-form" aria-label={`Renew ${name}`} onSubmit={form.submit(async (v) => {
      await call("POST", `/api/v1/cas/${encodeURIComponent(name)}/renew`, v);
      onDone();
    })}>
      <Field form={form} name="overlap" scope={`${name}-`} label="Publish the next CA this long before it issues" required />
      <button type="submit" disabled={form.busy}>Renew {name}</button>
      <FormError form={form} fields={["overlap"]} />
    </form>
  );
}
