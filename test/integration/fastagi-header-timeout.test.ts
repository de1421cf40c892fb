import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, test } from "node:test";
import { defaultHeader } from "../helpers/asterisk.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test("a header finished after header_timeout is not routed: FAILURE stands, no server sees it", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0, header_timeout: 200ms } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  const header = defaultHeader({ url: "agi://x/late" });
  const sock = connect({ host: "127.0.0.1", port: p.port(), allowHalfOpen: true });
  sock.on("error", () => {});
  let got = "";
  sock.on("data", (d: Buffer) => {
    got += d.toString();
    // The FAILURE came: now the rest of the header, too late.
    if (got === "FAILURE\n") sock.end(header.subarray(10));
  });
  sock.write(header.subarray(0, 10));
  const s = await p.session(0);
  assert.equal(s.outcome, "header_timeout");
  assert.equal(got, "FAILURE\n");
  assert.equal(up.stats.sessions, 0, "the late header reached no server");
});
