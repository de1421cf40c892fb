/**
 * The Forwarded field (RFC 7239): this hop's element, and whether an earlier hop's value is
 * one a server can read. An element is appended the way X-Forwarded-For is: the server
 * trusts the last one, which is ours. A value that is not a list of `token=value` pairs (an
 * open quote above all) is not passed on: joined before ours, it could swallow our element
 * into its quoted-string and leave a client's `for=` last.
 */

/** RFC 9110 §5.6.2 token; §5.6.4 quoted-string (qdtext, quoted-pair), sticky: read at an index. */
const TOKEN_AT = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const QUOTED_AT = /"(?:[\t !#-[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"/y;
const IS_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The end of what `re` matches at `at`, or -1. */
function matchAt(re: RegExp, value: string, at: number): number {
  re.lastIndex = at;
  return re.test(value) ? re.lastIndex : -1;
}

/**
 * RFC 7239 §4: a list of forwarded-elements, each `pair *( ";" pair )`, a pair `token=(token
 * / quoted-string)`, empty elements and pairs allowed, OWS around the separators. A scan, one
 * pass: the obvious regex nests optional groups around OWS and backtracks exponentially on a
 * value that fails late (`x=y ; ; ; … "` took over 60 s at 20 repeats).
 */
export function wellFormedForwarded(value: string): boolean {
  let i = 0;
  let afterPair = false;
  while (i < value.length) {
    const c = value.charCodeAt(i);
    // OWS, or a separator between pairs (;) or elements (,).
    if (c === 0x20 || c === 0x09 || c === 0x3b || c === 0x2c) {
      if (c === 0x3b || c === 0x2c) afterPair = false;
      i++;
      continue;
    }
    if (afterPair) return false;
    const name = matchAt(TOKEN_AT, value, i);
    if (name < 0 || value.charCodeAt(name) !== 0x3d) return false;
    const end =
      value.charCodeAt(name + 1) === 0x22
        ? matchAt(QUOTED_AT, value, name + 1)
        : matchAt(TOKEN_AT, value, name + 1);
    if (end < 0) return false;
    i = end;
    afterPair = true;
  }
  return true;
}

/** A value as a token when it is one, else quoted (RFC 7239 §4). */
function tokenOrQuoted(v: string): string {
  return IS_TOKEN.test(v) ? v : `"${v.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * This hop's element: `for` the client's address (an IPv6 one bracketed and quoted, RFC 7239
 * §6), `proto`, and `host` the Host the client sent (left out when none).
 */
export function forwardedElement(client: string, proto: string, host: string): string {
  const node = client.includes(":") ? `"[${client}]"` : tokenOrQuoted(client);
  return `for=${node};proto=${proto}${host === "" ? "" : `;host=${tokenOrQuoted(host)}`}`;
}
