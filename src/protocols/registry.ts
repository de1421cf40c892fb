import { fastagi } from "./fastagi/index.ts";
import type { Protocol } from "./protocol.ts";
import { sip } from "./sip/index.ts";

/** The one list of protocols. HTTP joins here. */
export const PROTOCOLS: readonly Protocol[] = [fastagi, sip];

export function protocolNamed(name: string): Protocol | undefined {
  return PROTOCOLS.find((p) => p.name === name);
}
