// What `trunkline ctl` prints to an operator's terminal when a client chose the strings: a
// FastAGI client's agi_request reaches the REQUEST column of `ctl sessions`. A terminal acts
// on control characters and reorders text around bidi controls, so none may arrive raw.
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { agiHeader } from "../helpers/obs-attack.ts";
import { startProxy, until } from "../helpers/proxy.ts";

// The set src/observe/pretty.ts already escapes for terminal log lines: C0, DEL, C1, ALM,
// LRM/RLM, the line and paragraph separators, bidi embeddings, overrides and isolates.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** An upstream that accepts FastAGI sessions and holds them open, saying nothing. */
async function holder(): Promise<{ port: number; close(): Promise<void> }> {
  const socks = new Set<Socket>();
  const srv = createServer((s) => {
    socks.add(s);
    s.on("error", () => {});
    s.resume();
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    port: (srv.address() as { port: number }).port,
    close: () => {
      for (const s of socks) s.destroy();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

async function heldSessions(requests: readonly string[]) {
  const up = await holder();
  const p = await startProxy(`
admin: { listen: 127.0.0.1:0 }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: p } ]
pools: { p: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  const clients: Socket[] = [];
  for (const r of requests) {
    const s = connect({ host: "127.0.0.1", port: p.port() });
    s.on("error", () => {});
    s.write(agiHeader({ agi_request: r, agi_channel: "SIP/1" }));
    clients.push(s);
  }
  await until(() => p.proxy.runtime.activeSessions === requests.length, 5000, "sessions in flight");
  await until(
    () => (p.proxy.runtime.listener("agi")?.sessionsInfo(10) ?? []).every((s) => s.request !== undefined),
    5000,
    "every session's request known",
  );
  return {
    admin: `http://127.0.0.1:${p.proxy.adminAddress!.port}`,
    close: async () => {
      for (const c of clients) c.destroy();
      await p.close();
      await up.close();
    },
  };
}

// DEFECT: `ctl sessions` escapes a client's bidi controls and line/paragraph separators as it does C0/C1 (as the pretty log lines do) — they reach the terminal raw (clean() in src/cli/ctl-format.ts covers only \x00-\x1f and \x7f-\x9f), so a U+202E in agi_request reverses the rest of the row on a bidi terminal
test("ctl sessions: a client's bidi override, isolate and line separator in agi_request do not reach the terminal raw", async (t) => {
  const hostile = [
    "agi://127.0.0.1/a\u202e4753:11.0.0.01\u202c", // shows the text after it reversed: a fake server column
    "agi://127.0.0.1/b\u2066x\u2069\u2067y",
    "agi://127.0.0.1/c\u2028forged\u2029row",
  ];
  const s = await heldSessions(hostile);
  t.after(s.close);
  const out = await runCli(["ctl", "--admin", s.admin, "sessions"]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(
    out.stdout.trimEnd().split("\n").length,
    1 + hostile.length,
    "a header and one row per session",
  );
  const raw = out.stdout
    .split("\n")
    .filter((l) => UNSAFE.test(l))
    .map((l) => JSON.stringify(l));
  assert.deepEqual(raw, [], "client characters must be escaped (\\u202e...), not written raw");
});

// C0 controls in a FastAGI header are refused by the proxy (bad_header); C1 controls are
// taken, so they are what reaches the admin API from a client.
test("ctl sessions: C1 controls in agi_request (CSI, OSC, ST, NEL) arrive escaped, one row per session", async (t) => {
  const hostile = [
    "agi://127.0.0.1/b\u009b2J\u009d0;t\u009c", // C1 CSI (clear screen), OSC ... ST (window title)
    "agi://127.0.0.1/c\u0085fake row", // NEL: a line break to some terminals and viewers
  ];
  const s = await heldSessions(hostile);
  t.after(s.close);
  const out = await runCli(["ctl", "--admin", s.admin, "sessions"]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout.trimEnd().split("\n").length, 1 + hostile.length, out.stdout);
  assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(out.stdout), JSON.stringify(out.stdout));
  assert.ok(out.stdout.includes("agi://127.0.0.1/b\\x9b2J\\x9d0;t\\x9c"), out.stdout);
  assert.ok(out.stdout.includes("agi://127.0.0.1/c\\x85fake row"), out.stdout);
});
