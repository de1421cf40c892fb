// Log injection through FastAGI: values a caller controls (agi_request, agi_network_script,
// any header variable) reach the `session` line. One record must stay one line, whatever
// the value holds, in JSON (stdout) and in the pretty form a terminal gets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { refusedPort } from "../helpers/blackhole.ts";
import { agiHeader, agiRaw, startLoggedProxy, waitFor } from "../helpers/obs-attack.ts";

async function config(): Promise<string> {
  const dead = await refusedPort();
  return `
log: { level: info }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: p } ]
pools: { p: { connect_timeout: 500ms, total_timeout: 1s, servers: [ { address: 127.0.0.1:${dead} } ] } }
`;
}

/** Values that try to end the line, forge a field, or drive a terminal. */
const HOSTILE: Record<string, string> = {
  quote: 'x","outcome":"completed","server":"10.6.6.6:4573',
  backslash: "x\\\\\\",
  c1_csi: "x\u009b2J\u009b31mFORGED", // U+009B is CSI: ESC [ for a terminal
  c1_osc: "x\u009d0;pwned\u009c", // OSC ... ST: sets the window title
  nel: "x\u0085forged line", // NEL: a line break to Python's splitlines and some viewers
  ls_ps: "x\u2028forged\u2029line",
  bidi: "x\u202edetelpmoc=emoctuo\u202c", // shows as outcome=completed, reversed
  big: `x${"A".repeat(30_000)}`,
};

function sessionLines(out: string): string[] {
  return out.split("\n").filter((l) => l.includes("session ended"));
}

test("JSON lines: hostile agi_request, agi_network_script and header values give exactly one valid JSON line per session, fields intact", async (t) => {
  const p = await startLoggedProxy(await config());
  t.after(() => p.close());
  const port = p.port();
  for (const [name, v] of Object.entries(HOSTILE)) {
    const header = agiHeader({
      agi_request: `agi://127.0.0.1/${name}/${v}`,
      agi_network_script: `${name}/${v}`,
      agi_channel: "SIP/1-0001",
      agi_callerid: v.slice(0, 1000),
    });
    const got = await agiRaw(port, header);
    assert.match(got, /FAILURE/, `${name}: no server, so FAILURE`);
  }
  // Invalid UTF-8 bytes in a value: kept as replacement characters, still one line.
  const invalid = Buffer.concat([
    Buffer.from("agi_request: agi://127.0.0.1/bad/", "latin1"),
    Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]),
    Buffer.from("\nagi_channel: x\n\n", "latin1"),
  ]);
  await agiRaw(port, invalid);
  // CR, NUL and ESC are refused by the header parser: a bad_header line, still one line.
  await agiRaw(port, Buffer.from("agi_request: agi://h/\r\x00\x1b[2Jx\nagi_channel: x\n\n", "latin1"));
  const n = Object.keys(HOSTILE).length + 2;
  await waitFor(() => sessionLines(p.out()).length >= n, 8000, "session lines");
  const lines = p.out().split("\n");
  assert.equal(lines.at(-1), "", "the output ends with a newline");
  for (const line of lines.slice(0, -1)) {
    assert.ok(!/[\r\x00-\x1f]/.test(line), `no raw control character in a line: ${line.slice(0, 120)}`);
    JSON.parse(line); // each line is one whole JSON record
  }
  const recs = lines
    .slice(0, -1)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.event === "session");
  assert.equal(recs.length, n, "one session line per session, no more");
  for (const [name, v] of Object.entries(HOSTILE)) {
    const r = recs.find((x) => String(x.request).startsWith(`agi://127.0.0.1/${name}/`));
    assert.ok(r, `the ${name} session is logged`);
    assert.equal(r.request, `agi://127.0.0.1/${name}/${v}`, `${name}: the value round-trips`);
    assert.equal(r.outcome, "failure_no_server", `${name}: the real outcome, not a forged one`);
    assert.notEqual(r.server, "10.6.6.6:4573");
  }
  assert.equal(recs.filter((r) => r.outcome === "bad_header").length, 1);
});

// A defect found by attacking the proxy, fixed: pretty log lines (the default on a terminal) print client-supplied C1 controls, NEL and bidi overrides raw (src/observe/pretty.ts value()).
test("pretty lines (what an operator's terminal gets): no control, C1 or bidi character a client sent reaches the terminal raw", async (t) => {
  const p = await startLoggedProxy(await config(), { pretty: true });
  t.after(() => p.close());
  const port = p.port();
  const names = ["c1_csi", "c1_osc", "nel", "bidi"] as const;
  for (const name of names) {
    await agiRaw(port, agiHeader({ agi_request: `agi://127.0.0.1/${HOSTILE[name]}`, agi_channel: "SIP/1" }));
  }
  await waitFor(() => sessionLines(p.out()).length >= names.length, 8000, "session lines");
  const lines = sessionLines(p.out());
  assert.equal(lines.length, names.length, "one pretty line per session");
  // Cc (C0, DEL, C1), the line and paragraph separators, and the bidi embeddings,
  // overrides and isolates: a terminal acts on them or reorders what the operator sees.
  const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
  const raw = lines.filter((l) => UNSAFE.test(l)).map((l) => JSON.stringify(l.slice(0, 160)));
  assert.deepEqual(raw, [], "client characters must be escaped (\\u009b...), not written raw");
});
