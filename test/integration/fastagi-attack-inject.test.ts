/**
 * Attacks on what the proxy writes upstream: can a hostile Asterisk-side client get a line of
 * its own into the header the server receives, through a rewrite or a route script's answer?
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** The header's variable names, in order, as the server received them. */
function names(header: Buffer): string[] {
  return header
    .toString("utf8")
    .split("\n")
    .filter((l) => l !== "" && l !== "\r")
    .map((l) => l.slice(0, l.indexOf(":")));
}

// Fixed (target.ts parseAgiUrl refuses control characters): a route script's `{ to }` holding a line feed is "a bad answer" ending the session in FAILURE (README, Route scripts) — it is accepted: a `%0A` the caller put in a query parameter (decoded in `params`) splits agi_network_script and agi_request, the server got 4 extra header lines (agi_injected twice, agi_context: internal twice, ahead of the real agi_context), its 2nd session ran, Asterisk saw SUCCESS
test("a CR/LF in a route script's target (from a decoded query parameter) never reaches the server as a header line", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  // A plausible script: the app named by the caller's query parameter, on a fixed server.
  const script = `export default (r) => ({ to: "agi://127.0.0.1:${up.port}/apps/" + r.params.app });\n`;
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, script: ./route.mjs, script_timeout: 2s } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
    { files: { "route.mjs": script } },
  );
  cleanup.push(p.close);
  // A clean request first: the script routes as meant.
  assert.equal((await agiCall({ port: p.port(), url: "agi://pbx/x?app=menu" })).status, "SUCCESS");
  assert.match(up.stats.headers[0]!.toString(), /\nagi_request: agi:\/\/127\.0\.0\.1:\d+\/apps\/menu\n/);
  const clean = names(up.stats.headers[0]!);

  const hostile = "agi://pbx/x?app=menu%0Aagi_injected:%20yes%0Aagi_context:%20internal";
  const r = await agiCall({ port: p.port(), url: hostile });
  const s = await p.session(1);
  const seen = up.stats.headers[1];
  const injected = seen ? names(seen).filter((n) => !clean.includes(n) || n === "agi_context") : [];
  assert.deepEqual(
    {
      status: r.status,
      outcome: s.outcome,
      serverSessions: up.stats.sessions,
      linesInjected: seen ? names(seen).length - clean.length : 0,
    },
    { status: "FAILURE", outcome: "failure_route_error", serverSessions: 1, linesInjected: 0 },
    `upstream header: ${JSON.stringify(seen?.toString())}; extra names ${JSON.stringify(injected)}`,
  );
});

test("a rewrite cannot carry a caller's encoded CR/LF or a header variable's text into a new header line", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes:
  - listener: agi
    match: { path: ^/ivr/(?<app>.*)$ }
    rewrite: "/apps/$<app>?from=\${agi_calleridname}&raw=$1"
    pool: main
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const r = await agiCall({
    port: p.port(),
    url: "agi://pbx/ivr/a%0D%0Aagi_x:%201?q=%0A",
    vars: { agi_calleridname: "Eve\tagi_y: 2%0Aagi_z: 3" },
  });
  assert.equal(r.status, "SUCCESS");
  const h = up.stats.headers[0]!;
  const lines = names(h);
  assert.ok(!lines.includes("agi_x") && !lines.includes("agi_y") && !lines.includes("agi_z"), h.toString());
  const req = /\nagi_request: ([^\n]*)\n/.exec(h.toString())?.[1];
  // The caller's escapes stay escapes (once), the variable is encoded once; nothing is decoded into a line.
  assert.equal(
    req,
    "agi://pbx/apps/a%0D%0Aagi_x:%201?from=Eve%09agi_y%3A%202%250Aagi_z%3A%203&raw=a%0D%0Aagi_x:%201",
  );
});

// Fixed (rewrite.ts writes it once): a rewrite changes agi_network_script "together" with agi_request, and the proxy itself refuses a header with a variable twice (E_AGI_HEADER_INVALID) — when the client's agi_network_script comes after agi_request, the rewritten header sent upstream holds agi_network_script twice (2 lines, where the client sent 1)
test("a rewrite never sends the server a header with agi_network_script twice, whatever the client's line order", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, match: { path: ^/ivr/(.*)$ }, rewrite: /apps/$1, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const header = Buffer.from("agi_network: yes\nagi_request: agi://pbx/ivr/b\nagi_network_script: ivr/b\n\n");
  assert.equal((await agiCall({ port: p.port(), header })).status, "SUCCESS");
  const seen = names(up.stats.headers[0]!);
  assert.equal(
    seen.filter((n) => n === "agi_network_script").length,
    1,
    JSON.stringify(up.stats.headers[0]!.toString()),
  );
});

// Fixed (header-text.ts: bytes that are not UTF-8 read as escapes and are written back as
// themselves): a rewrite kept "every other byte" but turned path bytes that were not UTF-8
// into U+FFFD (FF FE reached the server as EF BF BD EF BF BD), and a Latin-1 caller name
// put in the query by a template arrived as %EF%BF%BD.
test("path bytes and a caller name that are not UTF-8 reach the server as the caller sent them, through a rewrite", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes:
  - { listener: agi, match: { path: ^/ivr/(.*)$ }, rewrite: "/apps/$1?n=\${agi_calleridname}", pool: main }
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const header = Buffer.concat([
    Buffer.from("agi_network: yes\nagi_network_script: ivr/m", "latin1"),
    Buffer.from([0xff, 0xfe]),
    Buffer.from("\nagi_request: agi://pbx/ivr/m", "latin1"),
    Buffer.from([0xff, 0xfe]),
    Buffer.from("\nagi_calleridname: Ren", "latin1"),
    Buffer.from([0xe9]),
    Buffer.from("e\n\n", "latin1"),
  ]);
  assert.equal((await agiCall({ port: p.port(), header })).status, "SUCCESS");
  const seen = up.stats.headers[0]!;
  const line = (name: string) => {
    const at = seen.indexOf(`${name}: `);
    return at < 0 ? undefined : seen.subarray(at + name.length + 2, seen.indexOf(0x0a, at)).toString("hex");
  };
  const hex = (s: string) => Buffer.from(s, "latin1").toString("hex");
  assert.equal(line("agi_request"), hex("agi://pbx/apps/m\xff\xfe?n=Ren%E9e"));
  assert.equal(line("agi_network_script"), hex("apps/m\xff\xfe?n=Ren%E9e"));
  assert.equal(line("agi_calleridname"), hex("Ren\xe9e"), "an untouched line stays its bytes");
});
