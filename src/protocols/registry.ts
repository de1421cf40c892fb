import { fastagi } from "./fastagi/index.ts";
import type { Protocol } from "./protocol.ts";

/** The one list of protocols. SIP and HTTP join here. */
export const PROTOCOLS: readonly Protocol[] = [fastagi];

export function protocolNamed(name: string): Protocol | undefined {
  return PROTOCOLS.find((p) => p.name === name);
}
