// The console speaks the operations API with the session cookie the API set
// at sign-in; every change carries the session's CSRF token.

export type Role = "admin" | "operator" | "auditor";
export type Session = {
  name: string;
  role: Role;
  csrf_token?: string;
  workflow_links?: string;
  grafana_url?: string;
};

/** ApiError is the API's one error shape: a code, a message, maybe a field and details. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string,
    public details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

let csrf = "";

/** call sends JSON (or, with contentType, text such as CSV) and reads JSON back. */
export async function call<T>(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = contentType;
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const resp = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = data.error ?? {};
    throw new ApiError(resp.status, e.code ?? "internal", e.message ?? resp.statusText, e.details?.field, e.details);
  }
  return data as T;
}

/** session is who is signed in, or null. */
export async function session(): Promise<Session | null> {
  try {
    const s = await call<Session>("GET", "/api/v1/session");
    csrf = s.csrf_token ?? "";
    return s;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export async function signIn(token: string): Promise<Session> {
  const s = await call<Session>("POST", "/api/v1/session", { token });
  csrf = s.csrf_token ?? "";
  return s;
}

export async function signOut(): Promise<void> {
  await call("DELETE", "/api/v1/session");
  csrf = "";
}

/** may says whether a role may do what needs at least `needed`. */
export function may(role: Role, needed: Role): boolean {
  const rank = { auditor: 0, operator: 1, admin: 2 };
  return rank[role] >= rank[needed];
}
