// A Trunkline with one SIP listener over a pool of SIPp answerers, for the sip-proxy-* tests.
import { join } from "node:path";
import type { SipListener } from "../../src/protocols/sip/listener.ts";
import type { TestProxy } from "./proxy.ts";
import {
  freeUdpPort,
  runSipp,
  SIPP_SCENARIOS,
  type SippOptions,
  type SippResult,
  type SippRun,
  startSipp,
  waitForSippAnswer,
} from "./sipp.ts";

export interface Answerer {
  readonly port: number;
  readonly run: SippRun;
}

/** SIPp answerers (one scenario each), ready when they answer OPTIONS (unless `ready: false`). */
export async function startAnswerers(
  scenarios: readonly string[],
  opts: { timeoutMs?: number; ready?: boolean } = {},
): Promise<Answerer[]> {
  const out: Answerer[] = [];
  for (const s of scenarios) {
    const port = await freeUdpPort();
    const run = startSipp({
      scenario: join(SIPP_SCENARIOS, s),
      localPort: port,
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
    out.push({ port, run });
  }
  if (opts.ready !== false) for (const a of out) await waitForSippAnswer(a.port);
  return out;
}

export function sipConfig(servers: readonly number[], extra = "", listenerExtra = ""): string {
  return `
listeners:
  - { name: sip, protocol: sip, listen: 127.0.0.1:0${listenerExtra} }
routes:
  - { listener: sip, pool: fs }
pools:
  fs:
    balance: round-robin
${extra}    servers:
${servers.map((p) => `      - { address: 127.0.0.1:${p} }`).join("\n")}
`;
}

export function sipListener(p: TestProxy, name = "sip"): SipListener {
  return p.proxy.runtime.listener(name) as SipListener;
}

/** Session log lines of SIP calls. */
export function callLines(p: TestProxy) {
  return p.logs.filter((r) => r.event === "session" && r.call_id !== undefined);
}

export interface CallerOptions {
  readonly calls: number;
  readonly rate: number;
  /** A file in test/fixtures/sipp/ (default uac-rr.xml: follows the Record-Route set). */
  readonly scenario?: string;
  readonly extraArgs?: readonly string[];
  readonly timeoutMs?: number;
}

function callerOptions(p: TestProxy, o: CallerOptions, localPort: number): SippOptions {
  return {
    scenario: join(SIPP_SCENARIOS, o.scenario ?? "uac-rr.xml"),
    remote: { host: "127.0.0.1", port: p.port("sip") },
    localPort,
    calls: o.calls,
    rate: o.rate,
    timeoutMs: o.timeoutMs ?? 30_000,
    ...(o.extraArgs ? { extraArgs: o.extraArgs } : {}),
  };
}

/** A SIPp caller through the proxy's `sip` listener, run to its end. */
export async function callThrough(p: TestProxy, o: CallerOptions): Promise<SippResult> {
  // The port is free for UDP when picked; over TCP something else may hold it by the time
  // SIPp binds ("Unable to bind main socket, errno = 98", seen once in a CI run with hogs).
  // SIPp then exits before any call: try another port, at most 3 times in all.
  for (let attempt = 1; ; attempt++) {
    const r = await runSipp(callerOptions(p, o, await freeUdpPort()));
    if (attempt >= 3 || !/Unable to bind main socket, errno = 98/.test(r.output)) return r;
  }
}

/** The same caller, started and left running. */
export async function startCaller(p: TestProxy, o: CallerOptions): Promise<SippRun> {
  return startSipp(callerOptions(p, o, await freeUdpPort()));
}

/** The values of header `name` in a raw message's text, by line (tests' hand-written peers). */
export function headerLines(text: string, name: string): string[] {
  return text
    .split("\r\n")
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).trim());
}
