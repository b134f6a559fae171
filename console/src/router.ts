// A small router over the History API: the path picks the view and the query
// string holds a view's filters, sort and page, so any view can be shared as
// a link and survives a reload.
import { useEffect, useState } from "preact/hooks";

const changed = "certfleet:navigate";

export function navigate(to: string, replace = false) {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event(changed));
  window.scrollTo(0, 0);
}

/** useLocation re-renders on every navigation and returns where we are. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const bump = () => setTick((n) => n + 1);
    window.addEventListener("popstate", bump);
    window.addEventListener(changed, bump);
    return () => {
      window.removeEventListener("popstate", bump);
      window.removeEventListener(changed, bump);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** withQuery is the current view with some query parameters set or, when
 * empty, removed; changing a filter returns to the first page. */
export function withQuery(patch: Record<string, string | undefined>, keepPage = false): string {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined || v === "") q.delete(k);
    else q.set(k, v);
  }
  if (!keepPage) {
    for (const k of ["after", "offset"]) if (!(k in patch)) q.delete(k);
  }
  const s = q.toString();
  return location.pathname + (s ? "?" + s : "");
}

/** onLink makes a plain <a href> navigate inside the console. */
export function onLink(e: MouseEvent) {
  const a = (e.target as HTMLElement).closest("a");
  if (!a || a.target || a.hasAttribute("download") || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
}
