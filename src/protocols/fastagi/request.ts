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
 * Expands a template: `$0`…`$9` and `$<name>` from the path match, `${agi_var}` from the
 * header, `$$` for a dollar sign. Unknown references expand to "".
 */
export function expandTemplate(
  template: string,
  match: RegExpExecArray | null,
  vars: ReadonlyMap<string, string>,
): string {
  return template.replace(
    /\$(\$|\d|<([A-Za-z_][A-Za-z0-9_]*)>|\{([A-Za-z0-9_]+)\})/g,
    (_all, tok: string, group?: string, v?: string) => {
      if (tok === "$") return "$";
      if (group !== undefined) return match?.groups?.[group] ?? "";
      if (v !== undefined) return vars.get(v) ?? "";
      return match?.[Number(tok)] ?? "";
    },
  );
}
