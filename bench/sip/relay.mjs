#!/usr/bin/env node
// The floor of any SIP proxy on Node over UDP, run by the SIP benchmark as the "relay" target:
// the least a record-routing proxy must do for SIPp's calls to go through it, on one socket
// and one thread, with public Node APIs (dgram). Plain JS on purpose. Per datagram, on its
// latin1 text:
// - a request with our Route on top (ACK, BYE): that line taken off, our Via put on top, sent
//   to the server the Route names (its index in `s=`);
// - any other request (the INVITE): 100 Trying back to the caller (its Via, From, To, Call-ID
//   and CSeq lines copied), our Record-Route and Via put on top, sent to the next server in
//   turn;
// - a response: our Via (the top value: SIPp echoes the Vias on one line) taken off, sent to
//   the next Via's received/rport, else its sent-by.
// Nothing else: no parsing beyond finding those lines, no Max-Forwards, no loop check, no
// transaction, no retransmission, no timer, no log, no metrics. Not a proxy anyone should run:
// a yardstick for what Node alone costs per call on this machine.
//
//   node bench/sip/relay.mjs --port P --servers P1,P2 [--host 127.0.0.1]
//
// Prints one JSON line `{"event":"listening","port":N}` on stdout, and exits when stdin closes.
import { createSocket } from "node:dgram";
import { createInterface } from "node:readline";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const host = opt("host", "127.0.0.1");
const port = Number(opt("port", "0"));
const servers = String(opt("servers", ""))
  .split(",")
  .filter((p) => p !== "")
  .map(Number);
if (servers.length === 0 || servers.some((p) => !(p > 0 && p < 65536))) {
  process.stderr.write("relay: --servers P1,P2 (UDP ports on --host) is required\n");
  process.exit(2);
}

const sock = createSocket("udp4");
let next = 0;
let branch = 0;
let me = "";

/** The line starting at `at` (up to its CRLF) and where the next one starts. */
function lineAt(text, at) {
  const end = text.indexOf("\r\n", at);
  return end < 0 ? undefined : { text: text.slice(at, end), next: end + 2 };
}

/** The start of the first header line whose name (any case) is one of `names`, else -1. */
function findHeader(text, names) {
  let at = text.indexOf("\r\n") + 2;
  for (;;) {
    const l = lineAt(text, at);
    if (l === undefined || l.text === "") return -1;
    const colon = l.text.indexOf(":");
    if (colon > 0 && names.includes(l.text.slice(0, colon).trim().toLowerCase())) return at;
    at = l.next;
  }
}

function send(text, p, h) {
  sock.send(Buffer.from(text, "latin1"), p, h);
}

function onRequest(text, rinfo) {
  const firstLine = text.indexOf("\r\n") + 2;
  const via = `Via: SIP/2.0/UDP ${me};branch=z9hG4bKrelay${(branch++).toString(36)};rport\r\n`;
  const r = findHeader(text, ["route"]);
  if (r >= 0) {
    const l = lineAt(text, r);
    const s = /;s=(\d+)/.exec(l.text);
    const server = servers[Number(s?.[1] ?? 0)] ?? servers[0];
    const rest = text.slice(firstLine, r) + text.slice(l.next);
    send(text.slice(0, firstLine) + via + rest, server, host);
    return;
  }
  // 100 Trying, from the lines a response copies.
  let trying = "SIP/2.0 100 Trying\r\n";
  for (const n of [["via", "v"], ["from", "f"], ["to", "t"], ["call-id", "i"], ["cseq"]]) {
    const at = findHeader(text, n);
    if (at >= 0) trying += `${lineAt(text, at).text}\r\n`;
  }
  send(`${trying}Content-Length: 0\r\n\r\n`, rinfo.port, rinfo.address);
  const index = next++ % servers.length;
  const rr = `Record-Route: <sip:${me};lr;s=${index}>\r\n`;
  send(text.slice(0, firstLine) + via + rr + text.slice(firstLine), servers[index], host);
}

function onResponse(text) {
  const top = findHeader(text, ["via", "v"]);
  if (top < 0) return;
  const line = lineAt(text, top);
  // Ours is the first value; SIPp writes the Vias it echoes on one line ("Via: ours, next").
  const comma = line.text.indexOf(",");
  let rest;
  let v;
  if (comma >= 0) {
    const name = line.text.slice(0, line.text.indexOf(":") + 1);
    v = line.text.slice(comma + 1).trim();
    rest = `${text.slice(0, top)}${name} ${v}\r\n${text.slice(line.next)}`;
  } else {
    rest = text.slice(0, top) + text.slice(line.next);
    const nextVia = findHeader(rest, ["via", "v"]);
    if (nextVia < 0) return;
    v = lineAt(rest, nextVia).text;
  }
  const sentBy = /SIP\/2\.0\/UDP\s+([^;:\s,]+)(?::(\d+))?/i.exec(v);
  const received = /;received=([^;\s,]+)/.exec(v);
  const rport = /;rport=(\d+)/.exec(v);
  const toHost = received?.[1] ?? sentBy?.[1];
  const toPort = Number(rport?.[1] ?? sentBy?.[2] ?? 5060);
  if (toHost !== undefined) send(rest, toPort, toHost);
}

// RELAY_SPIN_US=N: N µs of busy work per datagram received, before it is handled, to measure
// what each µs of a proxy's own JS costs the whole process (kernel time included) per call.
const spinUs = Number(process.env.RELAY_SPIN_US ?? 0);
if (!(Number.isFinite(spinUs) && spinUs >= 0)) {
  process.stderr.write(`relay: RELAY_SPIN_US=${process.env.RELAY_SPIN_US} is not a number of µs\n`);
  process.exit(2);
}
const SPIN_NS = BigInt(Math.round(spinUs * 1000));

sock.on("message", (msg, rinfo) => {
  if (SPIN_NS > 0n) {
    const until = process.hrtime.bigint() + SPIN_NS;
    while (process.hrtime.bigint() < until);
  }
  const text = msg.toString("latin1");
  if (text.startsWith("SIP/2.0 ")) onResponse(text);
  else onRequest(text, rinfo);
});
sock.on("error", (err) => process.stderr.write(`relay: ${err.message}\n`));
sock.bind(port, host, () => {
  sock.setRecvBufferSize(4 * 1024 * 1024);
  sock.setSendBufferSize(4 * 1024 * 1024);
  me = `${host}:${sock.address().port}`;
  process.stdout.write(`${JSON.stringify({ event: "listening", port: sock.address().port })}\n`);
});
createInterface({ input: process.stdin }).on("close", () => process.exit(0));
// Exits (rather than dies) on SIGTERM too, so that a --cpu-prof profile gets written.
process.on("SIGTERM", () => process.exit(0));
