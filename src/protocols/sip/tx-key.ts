/**
 * Small pure helpers of the proxy core: the key of a server transaction (RFC 3261 §17.2.3)
 * and the URI of a name-addr.
 */

import { isRfc3261Branch } from "./branch.ts";
import { parseCSeq } from "./fields.ts";
import { headerValue } from "./headers.ts";
import type { SipRequest } from "./types.ts";
import { parseVia } from "./via.ts";

/** What identifies a server transaction: the client's RFC 3261 branch, else RFC 2543 fields. */
export function txKey(req: SipRequest): string {
  const via = parseVia(headerValue(req, "via") ?? "");
  const branch = via.ok ? via.via.branch : undefined;
  if (branch !== undefined && isRfc3261Branch(branch)) return `${branch}\0${via.ok ? via.via.host : ""}`;
  return `2543\0${headerValue(req, "call-id") ?? ""}\0${headerValue(req, "from") ?? ""}\0${parseCSeq(headerValue(req, "cseq") ?? "").ok ? (headerValue(req, "cseq") ?? "").split(/\s+/)[0] : ""}`;
}

export function nameAddrUri(value: string): string {
  const open = value.indexOf("<");
  const close = value.indexOf(">", open);
  return open >= 0 && close > open ? value.slice(open + 1, close) : (value.split(";")[0]?.trim() ?? value);
}
