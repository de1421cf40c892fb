import { fastagi } from "./fastagi/index.ts";
import { http } from "./http/index.ts";
import type { Protocol } from "./protocol.ts";
import { sip } from "./sip/index.ts";

/** The one list of protocols. */
export const PROTOCOLS: readonly Protocol[] = [fastagi, sip, http];

export function protocolNamed(name: string): Protocol | undefined {
  return PROTOCOLS.find((p) => p.name === name);
}
