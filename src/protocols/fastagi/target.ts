import { formatHostPort, parseHostPort } from "../../core/address.ts";
import type { RouteTarget } from "./types.ts";

/** The IANA port of FastAGI (res_agi.c AGI_PORT). */
export const FASTAGI_PORT = 4573;

/** Parses `agi://host[:port][/path][?query]` as a route target. */
export function parseAgiUrl(input: string): RouteTarget | string {
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
