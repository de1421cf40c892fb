import { type AgiHeader, lineBytes } from "./header.ts";
import { encodeHeaderText } from "./header-text.ts";
import { fullUrl, networkScript } from "./request.ts";

interface UrlParts {
  readonly origin: string;
  readonly path: string;
  readonly query: string | undefined;
}

/**
 * The header bytes for the upstream. Without a rewrite they are the bytes Asterisk sent,
 * untouched. A rewrite changes agi_request and agi_network_script together (the script is
 * the new path without its leading `/`, plus the query, as res_agi.c writes it); every other
 * line passes byte-for-byte in Asterisk's order. Bytes of the request that are not UTF-8
 * come back as the same bytes (header-text.ts). `forwardedFor` adds agitator's
 * agi_x_fwd_for (appending to one that is already there, as a chain of proxies would).
 */
export function upstreamHeader(
  header: AgiHeader,
  raw: Buffer,
  original: UrlParts,
  final: UrlParts,
  forwardedFor: string | undefined,
): Buffer {
  const changed = fullUrl(original) !== fullUrl(final);
  if (!changed && forwardedFor === undefined) return raw;
  const out: Buffer[] = [];
  const script = networkScript(final);
  let wroteScript = false;
  let wroteFwd = false;
  for (const line of header.lines) {
    const eol = line.end - line.valueEnd === 2 ? "\r\n" : "\n";
    if (changed && line.name === "agi_network_script") {
      // Written already when agi_request came first: once only, as the proxy's own parser requires.
      if (script !== "" && !wroteScript) out.push(encodeHeaderText(`agi_network_script: ${script}${eol}`));
      wroteScript = true;
    } else if (changed && line.name === "agi_request") {
      // Asterisk omits agi_network_script when the URL has no path; a rewrite that adds one puts it back in its place.
      if (!wroteScript && script !== "") out.push(encodeHeaderText(`agi_network_script: ${script}${eol}`));
      wroteScript = true;
      out.push(encodeHeaderText(`agi_request: ${fullUrl(final)}${eol}`));
    } else if (forwardedFor !== undefined && line.name === "agi_x_fwd_for") {
      out.push(
        Buffer.concat([
          Buffer.from("agi_x_fwd_for: "),
          raw.subarray(line.valueStart, line.valueEnd),
          encodeHeaderText(`, ${forwardedFor}${eol}`),
        ]),
      );
      wroteFwd = true;
    } else {
      out.push(lineBytes(header, line));
    }
  }
  if (forwardedFor !== undefined && !wroteFwd) {
    const eol = header.terminator.length === 2 ? "\r\n" : "\n";
    out.push(encodeHeaderText(`agi_x_fwd_for: ${forwardedFor}${eol}`));
  }
  out.push(header.terminator);
  return Buffer.concat(out);
}
