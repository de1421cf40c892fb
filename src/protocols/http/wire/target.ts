/**
 * Whether a request's target is one routes can judge (RFC 9112 §3.2): origin-form (an
 * absolute-form http(s) target arrives as its path, head.ts), or `*` for OPTIONS. Anything
 * else routed as `/` and so slipped past a path fence: another scheme's absolute-form
 * (`ftp://h/`, `ws://h/`, `file:///`) or a path with a backslash, which RFC 3986 allows
 * nowhere in a URI and which some servers (IIS, Windows file APIs, many frameworks) read as
 * `/`, so `/x\..\admin` would reach `/admin` past a route on `/admin`.
 */

import type { RequestHead } from "./head.ts";

export function routableTarget(h: RequestHead): boolean {
  const t = h.target;
  if (t.includes("\\")) return false;
  return t.startsWith("/") || (t === "*" && h.method === "OPTIONS");
}
