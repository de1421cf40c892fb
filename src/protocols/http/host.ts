/**
 * Host matching, pure. A Host header (RFC 9110 §7.2: uri-host [":" port]) is compared
 * lower-case, without its port and without a leading "www.", as the gogeta seed did, so
 * www.app.example.com:8080 and app.example.com reach the same route.
 */

/** The Host header as routes see it; "" when there is none. */
export function normalizeHost(raw: string | undefined): string {
  if (raw === undefined) return "";
  let h = raw.trim().toLowerCase();
  if (h.startsWith("[")) {
    // An IPv6 literal keeps its brackets; only a port after them goes.
    const end = h.indexOf("]");
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(":");
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h.startsWith("www.") ? h.slice(4) : h;
}

/** A route's host pattern: exact, or `*.suffix` (which does not match the bare suffix). */
export type HostPattern =
  | { readonly kind: "any" }
  | { readonly kind: "exact"; readonly host: string }
  | { readonly kind: "wildcard"; readonly suffix: string };

/** A pattern from the config, or a message saying why it is not one. */
export function parseHostPattern(raw: string | undefined): HostPattern | string {
  if (raw === undefined) return { kind: "any" };
  const s = raw.trim().toLowerCase();
  if (s.startsWith("*.")) {
    const rest = s.slice(2);
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(rest)) return `invalid wildcard host "${raw}"`;
    return { kind: "wildcard", suffix: `.${rest}` };
  }
  if (s.includes("*")) return `a wildcard host starts with "*." ("${raw}")`;
  const host = normalizeHost(s);
  if (host === "" || !/^[a-z0-9.[\]:-]+$/.test(host)) return `invalid host "${raw}"`;
  return { kind: "exact", host };
}

/**
 * Path of a request target (RFC 9112 §3.2) as routes see it: origin-form up to "?", else "/"
 * for the other forms (an absolute-form target arrives here as its path, head.ts). Spellings
 * of the same path route alike (RFC 3986 §6.2.2): a percent-escaped unreserved character is
 * decoded and dot-segments are removed, so `/%61dmin` and `/x/../admin` meet a route on
 * `/admin` (as `status: stopped` fences it). The server still gets the target as sent.
 */
export function requestPath(url: string | undefined): string {
  if (url === undefined || !url.startsWith("/")) return "/";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  return path.includes("%") || path.includes("/.") || path.includes("//") ? normalizePath(path) : path;
}

const UNRESERVED = /%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])/g;

function normalizePath(path: string): string {
  const decoded = path.replace(UNRESERVED, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  // RFC 3986 §5.2.4 remove_dot_segments, over the segments.
  const out: string[] = [];
  const segs = decoded.split("/");
  for (let i = 1; i < segs.length; i++) {
    const seg = segs[i] as string;
    const last = i === segs.length - 1;
    if (seg === "." || (seg === "" && !last)) {
      // An empty segment (`//`) merges with the next, as nginx's merge_slashes: most servers
      // read `//admin` as `/admin`, so routing must too.
      if (last) out.push("");
    } else if (seg === "..") {
      out.pop();
      if (last) out.push("");
    } else out.push(seg);
  }
  return `/${out.join("/")}`;
}

/** The placeholders a `hash` pool's hash_key may use for an HTTP request. */
export function hashVars(client: string, host: string, path: string, method: string): Map<string, string> {
  return new Map([
    ["client", client],
    ["host", host],
    ["path", path],
    ["method", method],
  ]);
}
