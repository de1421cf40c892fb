// A request head whose empty line arrives over three packets or more (`...\r\n`, `\r`, `\n`,
// or one byte per packet) is a complete head: it is answered at once, not with 408 when
// header_timeout runs out. Real sockets, Nagle off, each piece its own write.
import assert from "node:assert/strict";
import { test } from "node:test";
import { sayBack, startOrigin } from "../helpers/http-origin.ts";
import { GET, proxyTo, RawClient, within } from "../helpers/raw-http.ts";

const gap = () => new Promise((r) => setTimeout(r, 15)); // a packet boundary, not a wait on state

for (const [name, split] of [
  ["the empty line over three packets", (h: string) => [h.slice(0, -2), "\r", "\n"]],
  ["one byte per packet", (h: string) => [...h]],
] as const) {
  test(`http: a head sent as ${name} is answered before header_timeout`, { timeout: 30_000 }, async (t) => {
    const origin = await startOrigin(t, "o", sayBack);
    const p = await proxyTo(t, origin.port, ", header_timeout: 5s");
    const c = await RawClient.open(t, p.port("web"));
    c.sock.setNoDelay(true);
    const started = Date.now();
    for (const piece of split(GET("/split"))) {
      c.write(piece);
      await gap();
    }
    const r = await within(c.response("GET", 10_000), 10_000, "the answer");
    const ms = Date.now() - started;
    t.diagnostic(`${name}: ${r.status} after ${ms} ms`);
    assert.equal(r.status, 200);
    assert.ok(ms < 4_000, `answered after ${ms} ms: the head was not seen complete`);
  });
}
