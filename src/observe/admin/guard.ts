import type { IncomingHttpHeaders } from "node:http";
import { isIP } from "node:net";

/**
 * What a browser can make the admin API do on a page's behalf, refused here. The API has no
 * cookies, but a loopback API without a token trusts whoever reaches it, and an operator's
 * browser reaches it:
 * - cross-site request forgery: a page sends a "simple" POST (a form, or fetch with a
 *   text/plain body: no preflight) that drains a server or reloads the config. Refused: a
 *   change must not come from another origin (Origin, Sec-Fetch-Site), and must not carry a
 *   form or text content type (a JSON body must say application/json, which a page can only
 *   send cross-origin after a preflight that this API never approves);
 * - DNS rebinding: a page on the attacker's name, re-pointed at 127.0.0.1, is same-origin
 *   with the API in the browser's eyes and may read and change everything. Refused: an API
 *   that listens on a loopback address serves only requests whose Host names a loopback
 *   address or `localhost` (any port, so SSH tunnels work).
 * Non-browser clients (`trunkline ctl`, curl, Prometheus) send no Origin and name the address
 * they connect to, so nothing changes for them.
 */

/** A refusal: the status to answer and why, or undefined when the request may go on. */
export interface Refusal {
  readonly status: 403 | 415;
  readonly message: string;
}

/** Content types a page may send cross-origin without a preflight (Fetch standard, CORS-safelisted). */
const SIMPLE_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"];

/** True for an address literal or name that can only mean this machine. */
export function isLoopbackName(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  const bare = h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
  const v = isIP(bare);
  if (v === 4) return bare.startsWith("127.");
  if (v === 6) return bare === "::1" || /^::ffff:127\./.test(bare) || bare === "0:0:0:0:0:0:0:1";
  return false;
}

/** The host part of a Host header value (`name:port`, `[v6]:port`), lower case; undefined if malformed. */
export function hostName(value: string): string | undefined {
  const v = value.trim().toLowerCase();
  if (v === "") return undefined;
  if (v.startsWith("[")) {
    const end = v.indexOf("]");
    if (end < 0) return undefined;
    const rest = v.slice(end + 1);
    return rest === "" || /^:\d{1,5}$/.test(rest) ? v.slice(0, end + 1) : undefined;
  }
  const colon = v.indexOf(":");
  if (colon < 0) return v;
  return /^\d{1,5}$/.test(v.slice(colon + 1)) ? v.slice(0, colon) : undefined;
}

function first(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

/**
 * Checks one request. `loopback`: the API listens on a loopback address. `change`: the
 * request would change something (every POST).
 */
export function browserGuard(
  headers: IncomingHttpHeaders,
  loopback: boolean,
  change: boolean,
): Refusal | undefined {
  const host = first(headers.host);
  if (loopback && host !== undefined) {
    const name = hostName(host);
    if (name === undefined || !isLoopbackName(name))
      return {
        status: 403,
        message: `this admin API listens on loopback and answers only Host: 127.0.0.1, [::1] or localhost, not "${host.slice(0, 100)}" (a DNS-rebinding page?)`,
      };
  }
  if (!change) return undefined;
  const site = first(headers["sec-fetch-site"]);
  if (site !== undefined && site !== "same-origin" && site !== "none")
    return {
      status: 403,
      message: `a change cannot come from another site (Sec-Fetch-Site: ${site.slice(0, 40)})`,
    };
  const origin = first(headers.origin);
  if (origin !== undefined && !sameOrigin(origin, host))
    return {
      status: 403,
      message: `a change cannot come from another origin (Origin: ${origin.slice(0, 100)})`,
    };
  const type = (first(headers["content-type"]) ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (SIMPLE_TYPES.includes(type))
    return {
      status: 415,
      message: `a change takes no ${type} body: send JSON with Content-Type: application/json`,
    };
  return undefined;
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const u = new URL(origin);
    return (u.protocol === "http:" || u.protocol === "https:") && u.host === host.trim().toLowerCase();
  } catch {
    return false;
  }
}
