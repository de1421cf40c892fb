/**
 * The Forwarded field (RFC 7239): this hop's element, and whether an earlier hop's value is
 * one a server can read. An element is appended the way X-Forwarded-For is: the server
 * trusts the last one, which is ours. A value that is not a list of `token=value` pairs (an
 * open quote above all) is not passed on: joined before ours, it could swallow our element
 * into its quoted-string and leave a client's `for=` last.
 */

/** RFC 9110 §5.6.2 token; §5.6.4 quoted-string (qdtext, quoted-pair). */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t !#-\\[\\]-~\\x80-\\xff]|\\\\[\\t -~\\x80-\\xff])*"';
const PAIR = `${TOKEN}=(?:${TOKEN}|${QUOTED})`;
/** RFC 7239 §4: forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] ), in a list. */
const ELEMENT = `(?:${PAIR})?(?:[ \\t]*;[ \\t]*(?:${PAIR})?)*`;
const LIST = new RegExp(`^${ELEMENT}(?:[ \\t]*,[ \\t]*${ELEMENT})*$`);
const IS_TOKEN = new RegExp(`^${TOKEN}$`);

export function wellFormedForwarded(value: string): boolean {
  return LIST.test(value);
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
