// The proof that the SIP library and the UDP endpoint compose into a proxy: a minimal
// stateless forwarder (RFC 3261 §16.11), built here and not in src/, between a SIPp caller
// and a SIPp answerer that echoes Record-Route (test/fixtures/sipp/uas-rr.xml).
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { UdpEndpoint } from "../../src/net/udp-endpoint.ts";
import { branchParts, loopCheck, statelessBranch } from "../../src/protocols/sip/branch.ts";
import {
  addRecordRoute,
  decrementMaxForwards,
  prependVia,
  removeTopVia,
} from "../../src/protocols/sip/edit.ts";
import { headerValue, headerValues } from "../../src/protocols/sip/headers.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import {
  type ProxyAddress,
  preprocessRoute,
  recordRouteValue,
  validateRequest,
} from "../../src/protocols/sip/route.ts";
import { serializeMessage } from "../../src/protocols/sip/serialize.ts";
import type { SipMessage, SipRequest, SipResponse } from "../../src/protocols/sip/types.ts";
import { defaultPort, parseUri, sameHost } from "../../src/protocols/sip/uri.ts";
import { parseVia } from "../../src/protocols/sip/via.ts";
import { freeUdpPort, runSipp, SIPP_SCENARIOS, startSipp, waitForSippAnswer } from "../helpers/sipp.ts";

interface Target {
  readonly host: string;
  readonly port: number;
}
type Out = { readonly message: SipMessage } & Target;

/** What the forwarder did, by method: requests in, and in-dialog ones that carried our Route. */
interface ForwarderCounts {
  readonly requests: Map<string, number>;
  readonly routedByUs: Map<string, number>;
  responses: number;
  dropped: number;
}

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

/** A request on its way (§16.3 to §16.6): new requests go to `next`, in-dialog ones by R-URI. */
function forwardRequest(req: SipRequest, us: ProxyAddress, rr: string, next: Target, c: ForwarderCounts) {
  bump(c.requests, req.method);
  if (!validateRequest(req).ok) return undefined; // a real proxy answers 400/416/483/420
  const routed = preprocessRoute(req, us);
  if (!routed.ok) return undefined;
  let target = next;
  if (routed.popped > 0) {
    // Our Route was on top: a request inside a dialog we record-routed, bound for the
    // answerer's Contact, which is now the Request-URI (loose routing, §16.4 and §16.12).
    bump(c.routedByUs, req.method);
    const uri = parseUri(routed.message.uri);
    if (!uri.ok) return undefined;
    target = { host: uri.uri.host, port: uri.uri.port ?? defaultPort(uri.uri) };
  }
  const parts = branchParts(routed.message);
  if (!parts.ok) return undefined;
  const branch = statelessBranch(parts.parts);
  if (loopCheck(headerValues(req, "via"), us, branch)) return undefined; // 482
  const mf = decrementMaxForwards(routed.message);
  if (!mf.ok) return undefined;
  const via = prependVia(mf.message, `SIP/2.0/UDP ${us.host}:${us.port};branch=${branch};rport`);
  if (!via.ok) return undefined;
  if (req.method !== "INVITE") return { message: via.message, ...target };
  const withRr = addRecordRoute(via.message, rr);
  return withRr.ok ? { message: withRr.message, ...target } : undefined;
}

/** A response on its way back (§16.7): our Via off, then to the next Via's received/rport. */
function forwardResponse(res: SipResponse, us: ProxyAddress, c: ForwarderCounts): Out | undefined {
  const top = removeTopVia(res);
  if (!top.ok) return undefined;
  const ours = parseVia(top.removed);
  if (!ours.ok || ours.via.port !== us.port || !sameHost(ours.via.host, us.host)) return undefined;
  const nextText = headerValue(top.message, "via");
  const next = nextText === undefined ? undefined : parseVia(nextText);
  if (next === undefined || !next.ok) return undefined;
  c.responses++;
  const { via } = next;
  return { message: top.message, host: via.received ?? via.host, port: via.rport?.port ?? via.port ?? 5060 };
}

async function startForwarder(next: Target) {
  const c: ForwarderCounts = { requests: new Map(), routedByUs: new Map(), responses: 0, dropped: 0 };
  let us: ProxyAddress | undefined;
  let rr = "";
  const endpoint: UdpEndpoint = new UdpEndpoint({
    host: "127.0.0.1",
    port: 0,
    onDatagram: (buf) => {
      const parsed = parseMessage(buf, { stream: false });
      const out =
        !parsed.ok || us === undefined
          ? undefined
          : parsed.message.kind === "request"
            ? forwardRequest(parsed.message, us, rr, next, c)
            : forwardResponse(parsed.message, us, c);
      if (out === undefined) c.dropped++;
      else endpoint.send(serializeMessage(out.message), out.port, out.host);
    },
  });
  await endpoint.start();
  const port = endpoint.address?.port ?? 0;
  const address: ProxyAddress = { host: "127.0.0.1", port, transport: "udp" };
  const value = recordRouteValue(address);
  if (!value.ok) throw new Error(value.error.message);
  rr = value.value;
  us = address;
  return { port, counts: c, endpoint };
}

const CALLS = 50;

/** SIPp caller → forwarder → SIPp answerer (uas-rr.xml); the answerer is killed at the end. */
async function callThrough(uacScenario: string) {
  const uasPort = await freeUdpPort();
  const uas = startSipp({
    scenario: join(SIPP_SCENARIOS, "uas-rr.xml"),
    localPort: uasPort,
    timeoutMs: 20_000,
  });
  const fwd = await startForwarder({ host: "127.0.0.1", port: uasPort });
  try {
    await waitForSippAnswer(uasPort);
    const uac = await runSipp({
      scenario: uacScenario,
      remote: { host: "127.0.0.1", port: fwd.port },
      localPort: await freeUdpPort(),
      calls: CALLS,
      rate: 20,
      timeoutMs: 15_000,
    });
    return { uac, fwd };
  } finally {
    await uas.kill();
    await fwd.endpoint.close();
  }
}

test("SIPp caller keeping the route set → stateless forwarder → SIPp answerer: every call, ACK and BYE via us", {
  timeout: 20_000,
}, async () => {
  const { uac, fwd } = await callThrough(join(SIPP_SCENARIOS, "uac-rr.xml"));
  const c = fwd.counts;
  const detail = `${uac.errors}\n${uac.output.slice(-3000)}`;
  assert.equal(uac.timedOut, false, detail);
  assert.equal(uac.exitCode, 0, detail);
  assert.equal(uac.successful, CALLS, detail);
  assert.equal(uac.failed, 0, detail);
  // Record-Route worked: the caller put our Route on top of every ACK and BYE (it got it
  // from the answerer's 200, which only echoes what we added to the INVITE).
  assert.ok((c.requests.get("INVITE") ?? 0) >= CALLS);
  assert.equal(c.routedByUs.get("ACK"), c.requests.get("ACK"));
  assert.equal(c.routedByUs.get("BYE"), c.requests.get("BYE"));
  assert.ok((c.routedByUs.get("BYE") ?? 0) >= CALLS);
  assert.equal(c.routedByUs.get("INVITE"), undefined);
  assert.equal(c.dropped, 0);
  assert.equal(fwd.endpoint.stats.sendErrors, 0);
});

test("SIPp's built-in uac → stateless forwarder → SIPp answerer: every call succeeds", {
  timeout: 20_000,
}, async () => {
  // -sn uac ignores Record-Route and sends ACK and BYE to the forwarder's address anyway.
  const { uac, fwd } = await callThrough("uac");
  const c = fwd.counts;
  const detail = `${uac.errors}\n${uac.output.slice(-3000)}`;
  assert.equal(uac.exitCode, 0, detail);
  assert.equal(uac.successful, CALLS, detail);
  assert.equal(uac.failed, 0, detail);
  assert.ok((c.requests.get("BYE") ?? 0) >= CALLS);
  assert.equal(c.dropped, 0);
});
