/**
 * Header rewriting of a proxied message, pure over Node's raw header lists (name, value,
 * name, value...). Hop-by-hop fields belong to one connection and are never forwarded
 * (RFC 9110 §7.6.1: Connection and every field it names; plus the fields of RFC 2616 §13.5.1
 * that old peers send without naming them). A proxy appends to X-Forwarded-For and adds Via
 * (RFC 9110 §7.6.3) on requests and on responses.
 */

export const VIA = "1.1 trunkline";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** The field names a Connection header lists (RFC 9110 §7.6.1), lower case. */
function connectionTokens(raw: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== "connection") continue;
    for (const t of (raw[i + 1] as string).split(",")) {
      const v = t.trim().toLowerCase();
      if (v !== "") out.add(v);
    }
  }
  return out;
}

/**
 * Raw headers without the hop-by-hop ones. `keepUpgrade` keeps Upgrade and sends
 * `Connection: upgrade` for a relayed upgrade (RFC 9110 §7.8), whose handshake must reach
 * the server. `drop` names more fields to leave out (lower case).
 */
export function endToEnd(
  raw: readonly string[],
  opts: { readonly keepUpgrade?: boolean; readonly drop?: ReadonlySet<string> } = {},
): string[] {
  const named = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (opts.drop?.has(lower)) continue;
    if (opts.keepUpgrade && lower === "upgrade") {
      out.push(name, raw[i + 1] as string);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  if (opts.keepUpgrade) out.push("Connection", "upgrade");
  return out;
}

export interface ForwardedInfo {
  /** The client's address as this proxy saw it. */
  readonly client: string;
  readonly proto: "http" | "https";
  /** The Host header the client sent ("" when none). */
  readonly host: string;
}

/** Fields a proxy replaces rather than passes on (they describe this hop). */
const OURS = new Set(["x-forwarded-proto", "x-forwarded-host"]);

/**
 * The request headers to send upstream: end-to-end ones, X-Forwarded-For with the client
 * appended to what earlier proxies wrote, X-Forwarded-Proto and -Host of this hop, and our Via
 * after any earlier one. Expect is left out: Node answers 100-continue to the client itself.
 */
export function upstreamRequestHeaders(
  raw: readonly string[],
  f: ForwardedInfo,
  opts: { readonly keepUpgrade?: boolean } = {},
): string[] {
  const out = endToEnd(raw, { ...opts, drop: REQUEST_DROP });
  const prior: string[] = [];
  const via: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (lower === "x-forwarded-for") prior.push((raw[i + 1] as string).trim());
    else if (lower === "via") via.push((raw[i + 1] as string).trim());
  }
  prior.push(f.client);
  via.push(VIA);
  out.push("X-Forwarded-For", prior.filter((v) => v !== "").join(", "));
  out.push("X-Forwarded-Proto", f.proto);
  if (f.host !== "") out.push("X-Forwarded-Host", f.host);
  out.push("Via", via.join(", "));
  return out;
}

/** The request head for the server, as text: request line, fields, the body's framing, empty line. */
export function upstreamRequestHead(
  h: {
    readonly method: string;
    readonly target: string;
    readonly raw: readonly string[];
    readonly framing: { readonly kind: string };
  },
  f: ForwardedInfo,
): string {
  let head = `${h.method} ${h.target} HTTP/1.1\r\n`;
  const headers = upstreamRequestHeaders(h.raw, f);
  for (let i = 0; i + 1 < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  // Transfer-Encoding is hop-by-hop: the body goes on chunked as it came.
  if (h.framing.kind === "chunked") head += "Transfer-Encoding: chunked\r\n";
  return `${head}\r\n`;
}

const REQUEST_DROP = new Set([...OURS, "x-forwarded-for", "via", "expect"]);
const RESPONSE_DROP = new Set(["via"]);

/** Response headers for the client: end-to-end ones and Via with ours last. */
export function clientResponseHeaders(raw: readonly string[]): string[] {
  const out = endToEnd(raw, { drop: RESPONSE_DROP });
  const via: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2)
    if ((raw[i] as string).toLowerCase() === "via") via.push((raw[i + 1] as string).trim());
  via.push(VIA);
  out.push("Via", via.join(", "));
  return out;
}

/** Whether a request carries a body (RFC 9112 §6.3: Transfer-Encoding or a non-zero Content-Length). */
export function hasBody(headers: { readonly [k: string]: string | string[] | undefined }): boolean {
  if (headers["transfer-encoding"] !== undefined) return true;
  const cl = headers["content-length"];
  return cl !== undefined && cl !== "0";
}
