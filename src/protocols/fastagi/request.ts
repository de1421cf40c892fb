import { escapedByte } from "./header-text.ts";

/** The request a route sees: agi_request split into parts, plus the header variables. */
export interface AgiRequest {
  /** `agi://host:port` exactly as Asterisk wrote it (scheme and authority). */
  readonly origin: string;
  /** Path with its leading `/`, or "" when the URL had none. */
  readonly path: string;
  /** Raw query (after `?`, not decoded), or undefined. */
  readonly query: string | undefined;
  /** Header variables as UTF-8 text. */
  readonly vars: ReadonlyMap<string, string>;
}

/** Splits `agi://host:port/path?query` the way Asterisk builds agi_network_script from it. */
export function splitAgiUrl(
  url: string,
): { origin: string; path: string; query: string | undefined } | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*)([^?#]*)(?:\?([^#]*))?/.exec(url);
  if (!m) return undefined;
  return { origin: m[1] as string, path: m[2] ?? "", query: m[3] };
}

export function fullUrl(r: { origin: string; path: string; query: string | undefined }): string {
  return `${r.origin}${r.path}${r.query === undefined ? "" : `?${r.query}`}`;
}

/** agi_network_script as Asterisk writes it: the path without its leading `/`, plus `?query`. */
export function networkScript(r: { path: string; query: string | undefined }): string {
  return `${r.path.replace(/^\//, "")}${r.query === undefined ? "" : `?${r.query}`}`;
}

/** Query parameters, decoded for matching (raw value where decoding fails). First occurrence wins. */
export function queryParams(query: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!query) return out;
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const k = decode(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? "" : decode(part.slice(eq + 1));
    if (!out.has(k)) out.set(k, v);
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

/**
 * A template compiled once: called per session with the path match and the header variables.
 * `$0`…`$9` and `$<name>` come from the match of match.path, `${agi_var}` from the header,
 * `$$` is a dollar sign; an unknown reference (no such group, no such variable, no match)
 * expands to "". Anything else after `$` stays as written.
 */
export type CompiledTemplate = (match: RegExpExecArray | null, vars: ReadonlyMap<string, string>) => string;

/**
 * `url`: the template builds a request URL (rewrite), so values are encoded where they land.
 * `plain`: values go in as they are (hash_key is hashed, never parsed as a URL).
 */
export type TemplateMode = "url" | "plain";

type Encode = (value: string) => string;

interface Segment {
  /** Literal template text before the reference. */
  readonly before: string;
  readonly ref:
    | { readonly kind: "group"; readonly index: number }
    | { readonly kind: "named"; readonly name: string }
    | { readonly kind: "var"; readonly name: string };
  readonly encode: Encode | undefined;
}

const TOKEN = /\$(\$|\d|<([A-Za-z_][A-Za-z0-9_]*)>|\{([A-Za-z0-9_]+)\})/g;
/**
 * A lone UTF-16 surrogate: encodeURIComponent throws on it. One that stands for a byte of the
 * header that was not UTF-8 (header-text.ts) is that byte, `%XX`; any other becomes U+FFFD.
 */
const LONE_SURROGATE_AT_START = /^\p{Cs}/u;
/**
 * What a path capture may not carry unchanged into a query: the separators `&`, `=`, `#`, `?`,
 * `+` (URLSearchParams and most AGI servers read it as a space), a `%` that starts no `%XX` escape (it could join the literal
 * text after it into one), and everything outside printable ASCII (space, controls, non-ASCII).
 */
const QUERY_UNSAFE = /[&=#?+]|%(?![0-9A-Fa-f]{2})|[^\x21-\x7E]+/g;

function encodeComponent(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return value.replace(/[^\p{Cs}]+|\p{Cs}/gu, (run) => {
      if (!LONE_SURROGATE_AT_START.test(run)) return encodeURIComponent(run);
      const b = escapedByte(run);
      return b === undefined ? "%EF%BF%BD" : `%${b.toString(16).toUpperCase()}`;
    });
  }
}

function encodeQueryText(value: string): string {
  return value.replace(QUERY_UNSAFE, encodeComponent);
}

/**
 * Parses a template once into literal text and references, so a session only concatenates.
 *
 * In `url` mode the encoding of a value depends on where it lands; the query part is
 * everything after the first literal `?` of the template text.
 * - `${agi_var}` is header text (a caller name can hold `&`, `=`, `+`, `/`, anything): it is
 *   percent-encoded as encodeURIComponent does, in the path part and in the query part, so
 *   it can neither add a parameter nor a path segment, and reads back exactly.
 * - `$N` and `$<name>` are already URL text (match.path runs on the raw, undecoded path): in
 *   the path part they go in unchanged (a `%20` stays `%20`, not `%2520`); in the query part
 *   only what would change the query's structure or meaning is encoded (QUERY_UNSAFE above),
 *   and existing `%XX` escapes are kept as they are.
 * A path capture never holds `?` or `#` (the path ends before them), so the first `?` of the
 * expanded text is the template's first literal `?`, which is where the router splits it.
 */
export function compileTemplate(template: string, mode: TemplateMode): CompiledTemplate {
  const segments: Segment[] = [];
  let literal = "";
  let inQuery = false;
  let last = 0;
  for (const m of template.matchAll(TOKEN)) {
    const text = template.slice(last, m.index);
    if (text.includes("?")) inQuery = true;
    literal += text;
    last = m.index + m[0].length;
    const tok = m[1] as string;
    if (tok === "$") {
      literal += "$";
      continue;
    }
    const ref: Segment["ref"] =
      m[2] !== undefined
        ? { kind: "named", name: m[2] }
        : m[3] !== undefined
          ? { kind: "var", name: m[3] }
          : { kind: "group", index: Number(tok) };
    const encode =
      mode === "plain"
        ? undefined
        : ref.kind === "var"
          ? encodeComponent
          : inQuery
            ? encodeQueryText
            : undefined;
    segments.push({ before: literal, ref, encode });
    literal = "";
  }
  const tail = literal + template.slice(last);
  if (segments.length === 0) return () => tail;
  return (match, vars) => {
    let out = "";
    for (const s of segments) {
      const r = s.ref;
      const v =
        (r.kind === "var"
          ? vars.get(r.name)
          : r.kind === "named"
            ? match?.groups?.[r.name]
            : match?.[r.index]) ?? "";
      out += s.before + (s.encode === undefined || v === "" ? v : s.encode(v));
    }
    return out + tail;
  };
}

/**
 * Expands a template in `plain` mode, compiling it on every call. For one-off use only:
 * per-session code should hold the template compiled once with the config snapshot.
 */
export function expandTemplate(
  template: string,
  match: RegExpExecArray | null,
  vars: ReadonlyMap<string, string>,
): string {
  return compileTemplate(template, "plain")(match, vars);
}
