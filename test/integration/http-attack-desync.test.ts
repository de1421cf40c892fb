// Attacks on the pooled keep-alive connections to a server: bytes a server sends after an
// answer is over (a second answer nobody asked for) must never be read as the answer to
// another client's request on the same connection.
import assert from "node:assert/strict";
import { test } from "node:test";
import { answer, GET, proxyTo, RawClient, startRawOrigin } from "../helpers/raw-http.ts";

const POISON = answer(200, "OK", "poisoned");

// Holds up: late bytes on an idle connection close it; the next client gets a fresh one.
test("a second answer on an idle connection: it is closed, the next client is answered on a new one", {
  timeout: 30_000,
}, async (t) => {
  let poisoned = 0;
  const origin = await startRawOrigin(t, (h, c) => {
    c.sock.write(answer(200, "OK", `conn ${c.id} ${h.target}`));
    if (h.onConn === 0) setTimeout(() => c.sock.destroyed || c.sock.write(POISON, () => poisoned++), 150);
  });
  const p = await proxyTo(t, origin.port);
  const a = await RawClient.open(t, p.port("web"));
  assert.equal((await a.request(GET("/a"))).body.toString(), "conn 0 /a");
  await origin.until(
    () => poisoned === 1 && origin.conns[0]?.closed === true,
    5_000,
    "the poison, then a close",
  );
  const b = await RawClient.open(t, p.port("web"));
  assert.equal((await b.request(GET("/b"))).body.toString(), "conn 1 /b");
});

// Holds up: a client's own next request reuses its upstream connection at once.
test("one client's sequential requests share one upstream connection", { timeout: 15_000 }, async (t) => {
  const origin = await startRawOrigin(t, (h, c) =>
    c.sock.write(answer(200, "OK", `conn ${c.id} ${h.target}`)),
  );
  const p = await proxyTo(t, origin.port);
  const a = await RawClient.open(t, p.port("web"));
  for (const path of ["/1", "/2", "/3"])
    assert.equal((await a.request(GET(path))).body.toString(), `conn 0 ${path}`);
  assert.equal(origin.conns.length, 1);
});
