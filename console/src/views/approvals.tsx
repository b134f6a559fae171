// CA requests: those awaiting an operator's approval, with approve and
// reject (with a reason), and the decided ones for the record.
import { useState } from "preact/hooks";
import { call } from "../api";
import { Action, CursorPager, Failure, Filters, Page, Status, Table, useApi, useSession, When } from "../ui";
import { may } from "../api";

type CARequest = {
  id: number;
  profile_id: number;
  profile_name: string;
  device_id: string;
  ca_driver: string;
  status: string;
  reject_reason: string;
  certificate_id?: number | null;
  decided_by: string;
  created_at: string;
};

export function CARequests({ query }: { query: URLSearchParams }) {
  const status = query.get("status") ?? "pending";
  const after = query.get("after");
  const list = useApi<{ items: CARequest[]; next?: string }>(`/api/v1/ca-requests?limit=50${status ? `&status=${status}` : ""}${after ? `&after=${after}` : ""}`);
  return (
    <Page title="CA requests">
      <Filters query={query} fields={[{ name: "status", label: "Status", options: [["pending", "Awaiting approval"], ["issued", "Issued"], ["rejected", "Rejected"]] }]} />
      <Failure message={list.error} />
      <Table caption="CA requests" empty="No request in this state." rows={list.data?.items} columns={[
        { label: "ID", render: (r) => r.id, numeric: true },
        { label: "Device", render: (r) => <a href={`/devices/${encodeURIComponent(r.device_id)}`}>{r.device_id}</a> },
        { label: "Profile", render: (r) => <a href={`/profiles/${r.profile_id}`}>{r.profile_name}</a> },
        { label: "Status", render: (r) => <Status value={r.status} /> },
        { label: "Asked", render: (r) => <When at={r.created_at} /> },
        { label: "Decision", render: (r) => (r.status === "pending" ? <Decide request={r} onDone={list.reload} /> : (
          <>{r.decided_by || "—"}{r.reject_reason && `: ${r.reject_reason}`}{r.certificate_id ? <> · <a href={`/certificates/${r.certificate_id}`}>certificate</a></> : null}</>
        )) },
      ]} />
      <CursorPager next={list.data?.next} query={query} />
    </Page>
  );
}

function Decide({ request, onDone }: { request: CARequest; onDone: () => void }) {
  const who = useSession();
  const [reason, setReason] = useState("");
  if (!may(who.role, "operator")) return <span class="muted">awaiting an operator</span>;
  return (
    <span class="decide">
      <Action label="Approve" needs="operator" run={() => call("POST", `/api/v1/ca-requests/${request.id}/approve`)} onDone={onDone} />
      <label class="visually-hidden" for={`reason-${request.id}`}>Reason to reject request {request.id}</label>
      <input id={`reason-${request.id}`} placeholder="reason to reject" value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
      <Action label="Reject" needs="operator" danger run={() => call("POST", `/api/v1/ca-requests/${request.id}/reject`, { reason })} onDone={onDone} />
    </span>
  );
}
