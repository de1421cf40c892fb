import { formatHostPort, parseHostPort } from "../../core/address.ts";
import type { RouteTarget } from "./types.ts";

/** The IANA port of FastAGI (res_agi.c AGI_PORT). */
export const FASTAGI_PORT = 4573;

/** Parses `agi://host[:port][/path][?query]` as a route target. */
export function parseAgiUrl(input: string): RouteTarget | string {
  // A line end would become a header line of the server's own (a route script's target is
  // built from what the caller sent): no control character, nor a space, belongs in a URL.
  if (/[\u0000-\u0020\u007f]/.test(input))
    return `"${JSON.stringify(input).slice(1, -1)}" holds a control character or a space`;
  const m = /^agi:\/\/([^/?#]+)([/?][^#]*)?$/i.exec(input);
  if (!m) return `"${input}" is not an agi://host[:port][/path] URL`;
  const hp = parseHostPort(m[1] as string, FASTAGI_PORT);
  if (typeof hp === "string") return hp;
  const rest = m[2];
  return {
    address: hp,
    authority: formatHostPort(hp),
    tls: undefined,
    pathAndQuery: rest === undefined || rest === "" ? undefined : rest,
  };
}
