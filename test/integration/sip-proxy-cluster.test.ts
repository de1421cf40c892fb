// Trunkline's SIP listener with hand-written UDP peers: a second proxy given the same config
// (advertise, secret) routes the BYE of a call set up through the first by its Record-Route
// token alone; OPTIONS to the proxy itself gets 200; malformed datagrams are counted and
// change nothing.
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { test } from "node:test";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";
import { callLines, headerLines, sipConfig, sipListener } from "../helpers/sip-proxy.ts";

interface Peer {
  readonly sock: Socket;
  readonly port: number;
  readonly got: { text: string; from: number }[];
}

async function peer(t: { after(fn: () => void): void }, answer?: (text: string) => string | undefined) {
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const p: Peer = { sock, port: sock.address().port, got: [] };
  sock.on("message", (m, rinfo) => {
    const text = m.toString("latin1");
    p.got.push({ text, from: rinfo.port });
    const reply = answer?.(text);
    if (reply !== undefined) sock.send(reply, rinfo.port, rinfo.address);
  });
  t.after(() => sock.close());
  return p;
}

/** A server answering INVITE and BYE with 200, echoing Via, Record-Route and the rest. */
function uas(text: string): string | undefined {
  const method = text.split(" ")[0];
  if (method !== "INVITE" && method !== "BYE") return undefined;
  const keep = ["Via", "From", "Call-ID", "CSeq", ...(method === "INVITE" ? ["Record-Route"] : [])];
  const lines = keep.flatMap((n) => headerLines(text, n).map((v) => `${n}: ${v}`));
  const to = headerLines(text, "To")[0] ?? "";
  return [
    "SIP/2.0 200 OK",
    ...lines,
    `To: ${to}${to.includes("tag=") ? "" : ";tag=srv1"}`,
    "Contact: <sip:srv@127.0.0.1>",
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

function request(method: string, uri: string, port: number, n: number, extra: string[] = []): string {
  return [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKcl${n}${method};rport`,
    "Max-Forwards: 70",
    `From: <sip:alice@127.0.0.1:${port}>;tag=a1`,
    `To: <sip:bob@example.com>${method === "BYE" || method === "ACK" ? ";tag=srv1" : ""}`,
    "Call-ID: cluster-call-1",
    `CSeq: ${method === "INVITE" || method === "ACK" ? 1 : 2} ${method}`,
    ...extra,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

async function waitFor(p: Peer, pred: (text: string) => boolean, what: string): Promise<string> {
  await until(() => p.got.some((g) => pred(g.text)), 5_000, what);
  return p.got.find((g) => pred(g.text))?.text ?? "";
}

const SECRET = "a-cluster-secret-of-32-bytes-000";

test("a second Trunkline with the same advertise and secret routes the BYE of a call set up through the first", {
  timeout: 30_000,
}, async (t) => {
  const server = await peer(t, uas);
  const cfg = sipConfig([server.port], "", `, advertise: "127.0.0.1:5999", secret: ${SECRET}`);
  const one: TestProxy = await startProxy(cfg);
  t.after(() => one.close());
  const two: TestProxy = await startProxy(cfg);
  t.after(() => two.close());
  const client = await peer(t);
  const send = (text: string, to: TestProxy) => client.sock.send(text, to.port("sip"), "127.0.0.1");
  send(request("INVITE", "sip:bob@example.com", client.port, 1), one);
  const ok = await waitFor(
    client,
    (x) => x.startsWith("SIP/2.0 200") && x.includes("INVITE"),
    "200 to INVITE",
  );
  const rr = headerLines(ok, "Record-Route");
  assert.equal(rr.length, 1);
  assert.match(rr[0] ?? "", /^<sip:127\.0\.0\.1:5999;transport=udp;lr;tl=[A-Za-z0-9_-]+>$/);
  assert.equal(sipListener(one).sessions, 1);
  // ACK and BYE go to the other proxy with the route set from the 200.
  send(request("ACK", "sip:srv@127.0.0.1", client.port, 2, [`Route: ${rr[0]}`]), two);
  // The ACK taught the second proxy the call: in its table, and counted on its server.
  const srvKey = `127.0.0.1:${server.port}`;
  await until(() => sipListener(two).sessions === 1, 5_000, "the call learned from the ACK");
  assert.equal(two.proxy.runtime.registry.get(srvKey)?.active, 1);
  send(request("BYE", "sip:srv@127.0.0.1", client.port, 3, [`Route: ${rr[0]}`]), two);
  await waitFor(client, (x) => x.startsWith("SIP/2.0 200") && x.includes("BYE"), "200 to BYE");
  const bye = server.got.find((g) => g.text.startsWith("BYE "));
  assert.equal(bye?.from, two.port("sip"), "the BYE came from the second proxy");
  assert.ok(server.got.some((g) => g.text.startsWith("ACK ") && g.from === two.port("sip")));
  // The second proxy never saw the INVITE: it counted the call from the ACK, and ended it on the BYE's 200.
  await until(() => callLines(two).length === 1, 5_000, "the second proxy's call line");
  assert.equal(callLines(two)[0]?.end, "bye");
  assert.equal(sipListener(two).sessions, 0);
  assert.equal(two.proxy.runtime.registry.get(srvKey)?.active, 0, "its slot given back");
});

test("a forged or altered route token is refused with 403 and reaches no server", {
  timeout: 30_000,
}, async (t) => {
  const server = await peer(t, uas);
  const p = await startProxy(sipConfig([server.port], "", `, secret: ${SECRET}`));
  t.after(() => p.close());
  const client = await peer(t);
  const forged = `<sip:127.0.0.1:${p.port("sip")};transport=udp;lr;tl=AWxvY2FsaG9zdDo1MDYwAAAAAAAAAAAAAAAAAAAAAA>`;
  client.sock.send(
    request("BYE", "sip:srv@127.0.0.1", client.port, 9, [`Route: ${forged}`]),
    p.port("sip"),
    "127.0.0.1",
  );
  await waitFor(client, (x) => x.startsWith("SIP/2.0 403"), "403");
  assert.equal(server.got.length, 0);
  assert.equal(sipListener(p).proxy?.stats.dropped.get("bad_token"), 1);
});

test("OPTIONS to the proxy itself gets 200; malformed datagrams are counted and dropped", {
  timeout: 30_000,
}, async (t) => {
  const server = await peer(t, uas);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const client = await peer(t);
  const port = p.port("sip");
  const junk = [
    "hello",
    "INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n\r\n",
    "SIP/2.0 200 OK\r\nContent-Length: 99999\r\n\r\n",
    "\u0000\u0001\u0002",
  ];
  for (const j of junk) client.sock.send(j, port, "127.0.0.1");
  client.sock.send(request("OPTIONS", `sip:127.0.0.1:${port}`, client.port, 5), port, "127.0.0.1");
  const ok = await waitFor(client, (x) => x.startsWith("SIP/2.0 200"), "200 to OPTIONS");
  assert.match(ok, /Allow: INVITE/);
  const l = sipListener(p);
  await until(
    () => [...l.malformed.values()].reduce((a, b) => a + b, 0) === junk.length,
    5_000,
    "4 malformed",
  );
  assert.equal(server.got.length, 0);
  assert.equal(client.got.length, 1);
  const metrics = await p.proxy.metrics?.text();
  if (metrics !== undefined)
    assert.match(metrics, /trunkline_sip_dropped_total\{listener="sip",reason="malformed_/);
});

test("an INVITE retransmitted after its 2xx (transaction gone) is absorbed: no second INVITE, no 482", {
  timeout: 30_000,
}, async (t) => {
  const server = await peer(t, uas);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const client = await peer(t);
  const invite = request("INVITE", "sip:bob@example.com", client.port, 1);
  client.sock.send(invite, p.port("sip"), "127.0.0.1");
  await waitFor(client, (x) => x.startsWith("SIP/2.0 200") && x.includes("INVITE"), "200 to INVITE");
  const l = sipListener(p);
  // The INVITE transaction ends within T1 of its 2xx; the call stays in the table.
  await until(() => l.proxy?.transactions === 0, 5_000, "the INVITE transaction gone");
  assert.equal(l.sessions, 1);
  const answersBefore = client.got.length;
  client.sock.send(invite, p.port("sip"), "127.0.0.1");
  await until(() => (l.proxy?.stats.dropped.get("invite_retransmission") ?? 0) === 1, 5_000, "absorbed");
  assert.equal(server.got.filter((g) => g.text.startsWith("INVITE ")).length, 1);
  assert.equal(client.got.length, answersBefore, "no answer to the retransmission (no 482)");
});

test("a SIP listener without a secret says so once at start; with one, it does not", async (t) => {
  const without = await startProxy(sipConfig([5999]));
  t.after(() => without.close());
  const warn = await without.waitForLog((l) => l.event === "listener_warning");
  assert.equal(warn.level, "warn");
  assert.equal(warn.listener, "sip");
  assert.match(warn.msg, /^no secret: the Record-Route token key is derived/);
  const withSecret = await startProxy(sipConfig([5999], "", `, secret: ${SECRET}`));
  t.after(() => withSecret.close());
  await withSecret.waitForLog((l) => l.msg === "listening");
  assert.equal(withSecret.logs.filter((l) => l.event === "listener_warning").length, 0);
});
