// The console's building blocks: data loading, tables with server-side
// paging and sorting, filters kept in the URL, forms that show the API's
// message beside the field at fault, actions, and the job outcome bar.
import { createContext, type ComponentChildren } from "preact";
import { useCallback, useContext, useEffect, useState } from "preact/hooks";
import { call, may, type Role, type Session } from "./api";
import { navigate, withQuery } from "./router";

export const SessionContext = createContext<Session>({ name: "", role: "auditor" });
export const useSession = () => useContext(SessionContext);

/** useApi loads path (again when it changes, or every `every` ms) and says how it went. */
export function useApi<T>(path: string | null, every = 0) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    if (!path) return;
    let live = true;
    call<T>("GET", path).then(
      (d) => live && (setData(d), setError("")),
      (e) => live && setError(e.message ?? String(e)),
    );
    return () => {
      live = false;
    };
  }, [path, tick]);
  useEffect(() => {
    if (!every) return;
    const timer = setInterval(reload, every);
    return () => clearInterval(timer);
  }, [every, reload]);
  return { data, error, reload };
}

export function Page({ title, actions, children }: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · certfleet`;
  }, [title]);
  return (
    <>
      <div class="page-head">
        <h1>{title}</h1>
        {actions && <div class="actions">{actions}</div>}
      </div>
      {children}
    </>
  );
}

export function Failure({ message }: { message: string }) {
  return message ? <p class="failure" role="alert">{message}</p> : null;
}

export type Column<T> = { label: string; sort?: string; render: (row: T) => ComponentChildren; numeric?: boolean };

/** Table shows one page of rows; a sortable column's header links to the view sorted by it. */
export function Table<T>({ rows, columns, caption, empty, query }: {
  rows: T[] | null | undefined;
  columns: Column<T>[];
  caption: string;
  empty: string;
  query?: URLSearchParams;
}) {
  if (!rows) return <p>Loading…</p>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" class={c.numeric ? "num" : ""} aria-sort={sortState(c, query)}>
                {c.sort && query ? <SortLink column={c} query={query} /> : c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={columns.length} class="empty">{empty}</td>
            </tr>
          ) : (
            rows.map((r) => (
              <tr>
                {columns.map((c) => (
                  <td class={c.numeric ? "num" : ""}>{c.render(r)}</td>
                ))}
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}

function sortState<T>(c: Column<T>, q?: URLSearchParams) {
  if (!c.sort || !q || q.get("sort") !== c.sort) return undefined;
  return q.get("order") === "desc" ? "descending" : "ascending";
}

function SortLink<T>({ column, query }: { column: Column<T>; query: URLSearchParams }) {
  const active = query.get("sort") === column.sort;
  const order = active && query.get("order") !== "desc" ? "desc" : "asc";
  return (
    <a href={withQuery({ sort: column.sort, order })}>
      {column.label}
      {active ? (query.get("order") === "desc" ? " ▼" : " ▲") : ""}
    </a>
  );
}

/** CursorPager pages a list the API pages by cursor ("next"). */
export function CursorPager({ next, query }: { next?: string | null; query: URLSearchParams }) {
  return (
    <nav class="pager" aria-label="Pages">
      {query.get("after") && <a href={withQuery({ after: undefined })}>First page</a>}
      {next && <a href={withQuery({ after: next }, true)}>Next page</a>}
    </nav>
  );
}

/** OffsetPager pages a list the API pages by offset. */
export function OffsetPager({ offset, limit, shown }: { offset: number; limit: number; shown: number }) {
  return (
    <nav class="pager" aria-label="Pages">
      {offset > 0 && <a href={withQuery({ offset: String(Math.max(0, offset - limit)) }, true)}>Previous page</a>}
      {shown === limit && <a href={withQuery({ offset: String(offset + limit) }, true)}>Next page</a>}
    </nav>
  );
}

export type FilterField = { name: string; label: string; options?: [string, string][]; type?: string; placeholder?: string };

/** Filters edits the view's query: a choice applies at once, text on Apply. */
export function Filters({ fields, query }: { fields: FilterField[]; query: URLSearchParams }) {
  const submit = (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    const patch: Record<string, string> = {};
    for (const f of fields) patch[f.name] = String(form.get(f.name) ?? "");
    navigate(withQuery(patch));
  };
  return (
    <form class="filters" onSubmit={submit} aria-label="Filters">
      {fields.map((f) => (
        <label key={f.name + query.get(f.name)}>
          <span>{f.label}</span>
          {f.options ? (
            <select name={f.name} onChange={(e) => (e.target as HTMLSelectElement).form!.requestSubmit()}>
              {f.options.map(([value, label]) => (
                <option value={value} selected={(query.get(f.name) ?? "") === value}>{label}</option>
              ))}
            </select>
          ) : (
            <input name={f.name} type={(f.type ?? "text") as "text"} defaultValue={query.get(f.name) ?? ""} placeholder={f.placeholder} />
          )}
        </label>
      ))}
      <button type="submit" class="secondary">Apply</button>
    </form>
  );
}

/** useForm holds a form's values and the API's refusal, by field. */
export function useForm<V extends Record<string, unknown>>(initial: V) {
  const [values, setValues] = useState<V>(initial);
  const [errors, setErrors] = useState<{ field?: string; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (name: string, value: unknown) => setValues((v) => ({ ...v, [name]: value }));
  const submit = (run: (v: V) => Promise<unknown>) => async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors(null);
    try {
      await run(values);
    } catch (err) {
      const e = err as { field?: string; message?: string };
      setErrors({ field: e.field, message: err instanceof Error ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  };
  /** errorOf is the refusal's message when it is about this field (or a part of it). */
  const errorOf = (name: string) => {
    const f = errors?.field;
    if (!f) return "";
    if (f !== name && !f.startsWith(name + ".") && !f.startsWith(name + "[")) return "";
    // Beside its field, the API's "field: problem" needs no field name.
    return errors!.message.startsWith(f + ": ") ? errors!.message.slice(f.length + 2) : errors!.message;
  };
  return { values, set, submit, errorOf, errors, setErrors, busy, setValues };
}

/** FormState is what Field and FormError need of a form. */
type FormState = {
  values: Record<string, unknown>;
  set: (name: string, value: unknown) => void;
  errorOf: (name: string) => string;
  errors: { field?: string; message: string } | null;
};

/** FormError is a refusal that names no field of the form. */
export function FormError({ form, fields }: { form: FormState; fields: string[] }) {
  if (!form.errors) return null;
  if (fields.some((f) => form.errorOf(f))) return null;
  return <p class="failure" role="alert">{form.errors.message}</p>;
}

/** Field is a labelled input whose refusal, if any, is right below it.
 * scope keeps IDs apart when a page holds several forms with the same fields. */
export function Field({ form, name, label, type = "text", hint, options, rows, required, scope = "" }: {
  form: FormState;
  name: string;
  scope?: string;
  label: string;
  type?: string;
  hint?: string;
  options?: [string, string][];
  rows?: number;
  required?: boolean;
}) {
  const id = `f-${scope}${name}`;
  const error = form.errorOf(name);
  const common = {
    id,
    name,
    "aria-invalid": error !== "",
    "aria-describedby": error ? `${id}-error` : hint ? `${id}-hint` : undefined,
    required,
  };
  const value = form.values[name];
  let input;
  if (options) {
    input = (
      <select {...common} onChange={(e) => form.set(name, (e.target as HTMLSelectElement).value)}>
        {options.map(([v, l]) => (
          <option value={v} selected={String(value ?? "") === v}>{l}</option>
        ))}
      </select>
    );
  } else if (type === "checkbox") {
    input = <input {...common} type="checkbox" checked={Boolean(value)} onChange={(e) => form.set(name, (e.target as HTMLInputElement).checked)} />;
  } else if (rows) {
    input = <textarea {...common} rows={rows} value={String(value ?? "")} onInput={(e) => form.set(name, (e.target as HTMLTextAreaElement).value)} />;
  } else {
    input = <input {...common} type={type as "text"} value={String(value ?? "")} onInput={(e) => form.set(name, (e.target as HTMLInputElement).value)} />;
  }
  return (
    <div class={type === "checkbox" ? "field check" : "field"}>
      <label for={id}>{label}</label>
      {input}
      {hint && !error && <small id={`${id}-hint`} class="hint">{hint}</small>}
      {error && <p id={`${id}-error`} class="field-error" role="alert">{error}</p>}
    </div>
  );
}

/** Choices is a group of checkboxes for a field holding a list; the
 * refusal of any of its entries ("name[2]") is right below the group. */
export function Choices({ form, name, label, options, hint }: {
  form: FormState;
  name: string;
  label: string;
  options: [string, string][];
  hint?: string;
}) {
  const error = form.errorOf(name);
  const chosen = (form.values[name] as string[] | undefined) ?? [];
  const toggle = (value: string, on: boolean) =>
    form.set(name, on ? [...chosen.filter((v) => v !== value), value] : chosen.filter((v) => v !== value));
  return (
    <fieldset class="field choices" id={`f-${name}`} aria-invalid={error !== ""}
      aria-describedby={error ? `f-${name}-error` : hint ? `f-${name}-hint` : undefined}>
      <legend>{label}</legend>
      <div class="row">
        {options.map(([value, text]) => (
          <label class="check">
            <input type="checkbox" name={name} value={value} checked={chosen.includes(value)}
              onChange={(e) => toggle(value, (e.target as HTMLInputElement).checked)} />
            {text}
          </label>
        ))}
      </div>
      {hint && !error && <small id={`f-${name}-hint`} class="hint">{hint}</small>}
      {error && <p id={`f-${name}-error`} class="field-error" role="alert">{error}</p>}
    </fieldset>
  );
}

/** Action is a button for one change, shown only to a role that may make it. */
export function Action({ label, needs, run, confirm: question, onDone, danger }: {
  label: string;
  needs: Role;
  run: () => Promise<unknown>;
  confirm?: string;
  onDone?: () => void;
  danger?: boolean;
}) {
  const who = useSession();
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  if (!may(who.role, needs)) return null;
  const go = async () => {
    if (question && !window.confirm(question)) return;
    setBusy(true);
    setError("");
    try {
      await run();
      onDone?.();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button type="button" class={danger ? "danger" : ""} onClick={go} disabled={busy}>{label}</button>
      {error && <span class="field-error" role="alert">{error}</span>}
    </span>
  );
}

export const itemStates: [string, string][] = [
  ["pending", "Pending"],
  ["in_progress", "In progress"],
  ["succeeded", "OK"],
  ["revoke_na", "OK, nothing to revoke"],
  ["revoke_warning", "Revoke warning"],
  ["device_failure", "Device failure"],
  ["ca_failure", "CA failure"],
  ["halted", "Halted"],
  ["skipped", "Skipped"],
];

/** OutcomeBar draws a job's items by state as one stacked bar, each part
 * titled with its count; the legend beside it carries the same counts, so
 * colour is never the only signal. */
export function OutcomeBar({ outcomes, legend }: { outcomes: Record<string, number>; legend?: boolean }) {
  const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
  const parts = itemStates.filter(([s]) => (outcomes[s] ?? 0) > 0);
  const summary = parts.map(([s, l]) => `${l}: ${outcomes[s]}`).join(", ") || "no items";
  return (
    <div class="outcomes">
      <div class="bar" role="img" aria-label={summary}>
        {parts.map(([s, l]) => (
          <span class={`part s-${s}`} style={{ flexGrow: outcomes[s] }} title={`${l}: ${outcomes[s]}`} />
        ))}
        {total === 0 && <span class="part s-none" style={{ flexGrow: 1 }} />}
      </div>
      {legend !== false && (
        <ul class="legend">
          {parts.map(([s, l]) => (
            <li>
              <span class={`swatch s-${s}`} aria-hidden="true" />
              {l} <strong>{outcomes[s].toLocaleString()}</strong>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function When({ at }: { at?: string | null }) {
  if (!at) return <span class="muted">—</span>;
  const d = new Date(at);
  return <time dateTime={at} title={d.toISOString()}>{d.toISOString().slice(0, 16).replace("T", " ")}</time>;
}

/** RunLink links a workflow to its page in the Temporal UI. */
export function RunLink({ workflowId, label }: { workflowId: string; label?: string }) {
  const who = useSession();
  if (!who.workflow_links) return <code>{workflowId}</code>;
  return (
    <a href={`${who.workflow_links}/${encodeURIComponent(workflowId)}`} target="_blank" rel="noopener">
      {label ?? workflowId}
    </a>
  );
}

export function Status({ value }: { value: string }) {
  return <span class={`status st-${value}`}>{value.replaceAll("_", " ")}</span>;
}
