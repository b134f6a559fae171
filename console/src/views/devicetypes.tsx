// Device types: what kinds of devices the fleet has, whether they enroll
// over EST only in FACTORY mode, and the profile each new device of a type
// gets. A type no device or profile uses can be deleted.
import { call, may } from "../api";
import { Action, Failure, Field, FormError, Page, Table, useApi, useForm, useSession } from "../ui";

type DeviceType = { name: string; description: string; enforce_factory_mode: boolean; default_profile_id?: number | null; devices: number; profiles: number };
type Profile = { id: number; name: string; device_type: string; archived_at?: string | null };

export function DeviceTypes() {
  const who = useSession();
  const list = useApi<{ items: DeviceType[] }>("/api/v1/device-types");
  const profiles = useApi<{ items: Profile[] }>("/api/v1/profiles?status=active&limit=100");
  const profileName = (id?: number | null) => (id == null ? "none" : profiles.data?.items.find((p) => p.id === id)?.name ?? `#${id}`);
  return (
    <Page title="Device types">
      <Failure message={list.error} />
      <Table caption="Device types" empty="No device type." rows={list.data?.items} columns={[
        { label: "Name", render: (d) => d.name },
        { label: "Description", render: (d) => d.description || "—" },
        { label: "EST only in FACTORY mode", render: (d) => (d.enforce_factory_mode ? "yes" : "no") },
        { label: "Default profile", render: (d) => profileName(d.default_profile_id) },
        { label: "Devices", render: (d) => d.devices, numeric: true },
        { label: "Profiles", render: (d) => d.profiles, numeric: true },
        { label: "Actions", render: (d) => (d.devices === 0 && d.profiles === 0 ? (
          <Action label="Delete" needs="admin" danger confirm={`Delete device type ${d.name}?`}
            run={() => call("DELETE", `/api/v1/device-types/${encodeURIComponent(d.name)}`)} onDone={list.reload} />
        ) : "in use") },
      ]} />
      {may(who.role, "admin") && list.data && <EditType types={list.data.items} profiles={profiles.data?.items ?? []} onDone={list.reload} />}
      {may(who.role, "admin") && <CreateType onDone={list.reload} />}
    </Page>
  );
}

function CreateType({ onDone }: { onDone: () => void }) {
  const form = useForm({ name: "", description: "", enforce_factory_mode: false });
  return (
    <section aria-labelledby="create-type">
      <h2 id="create-type">Add a device type</h2>
      <form class="stack" aria-label="Add a device type" onSubmit={form.submit(async (v) => {
        await call("POST", "/api/v1/device-types", v);
        form.setValues({ name: "", description: "", enforce_factory_mode: false });
        onDone();
      })}>
        <Field form={form} name="name" scope="new-" label="Name (lowercase, e.g. smart_meter)" required />
        <Field form={form} name="description" scope="new-" label="Description" />
        <Field form={form} name="enforce_factory_mode" scope="new-" label="Issue over EST only while a device is in FACTORY mode" type="checkbox" />
        <FormError form={form} fields={["name", "description", "enforce_factory_mode"]} />
        <button type="submit" disabled={form.busy}>Add</button>
      </form>
    </section>
  );
}

/** EditType changes a type's description, factory mode and default profile. */
function EditType({ types, profiles, onDone }: { types: DeviceType[]; profiles: Profile[]; onDone: () => void }) {
  const valuesOf = (t?: DeviceType) => ({
    name: t?.name ?? "", description: t?.description ?? "", enforce_factory_mode: t?.enforce_factory_mode ?? false,
    default_profile_id: t?.default_profile_id ? String(t.default_profile_id) : "",
  });
  const form = useForm(valuesOf(types[0]));
  const choose = (name: string) => form.setValues(valuesOf(types.find((t) => t.name === name)));
  return (
    <section aria-labelledby="edit-type">
      <h2 id="edit-type">Edit a device type</h2>
      <form class="stack" aria-label="Edit a device type" onSubmit={form.submit(async (v) => {
        await call("PUT", `/api/v1/device-types/${encodeURIComponent(String(v.name))}`, {
          description: v.description, enforce_factory_mode: v.enforce_factory_mode,
          default_profile_id: v.default_profile_id === "" ? null : Number(v.default_profile_id),
        });
        onDone();
      })}>
        <div class="field">
          <label for="f-edit-type">Device type</label>
          <select id="f-edit-type" onChange={(e) => choose((e.target as HTMLSelectElement).value)}>
            {types.map((t) => <option value={t.name} selected={t.name === form.values.name}>{t.name}</option>)}
          </select>
        </div>
        <Field form={form} name="description" scope="edit-" label="Description" />
        <Field form={form} name="enforce_factory_mode" scope="edit-" label="Issue over EST only while a device is in FACTORY mode" type="checkbox" />
        <Field form={form} name="default_profile_id" scope="edit-" label="Default profile, given to every new device of the type"
          options={[["", "none"], ...profiles.filter((p) => p.device_type === form.values.name).map((p): [string, string] => [String(p.id), p.name])]} />
        <FormError form={form} fields={["description", "enforce_factory_mode", "default_profile_id"]} />
        <button type="submit" disabled={form.busy}>Save</button>
      </form>
    </section>
  );
}
