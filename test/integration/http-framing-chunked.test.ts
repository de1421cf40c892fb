// A chunked body that cannot be followed (RFC 9112 §7.1), from either side. From the client:
// no answer has started, so it gets 400 and the connection closes (never a bare FIN or
// reset), and the server's connection that had part of the body is closed, not reused. From
// the server: before any byte of its answer reached the client, the client gets 502; after,
// the client's connection is cut (nothing else can tell it), and that server connection is
// never used again.
import assert from "node:assert/strict";
import { test } from "node:test";
import { answer, GET, proxyTo, RawClient, startRawOrigin, startTunnelOrigin } from "../helpers/raw-http.ts";

const POST = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

/** What a client saw: a status line and whether the connection ended, or a bare close. */
function seen(c: RawClient): string {
  const text = c.all.toString("latin1");
  const line = text.slice(0, Math.max(0, text.indexOf("\r\n")));
  return `${line === "" ? "no answer" : line}${text.includes("Connection: close") ? " + Connection: close" : ""}, ${c.ended ? "closed" : "open"}`;
}

const BAD_BODIES: [string, string][] = [
  ["a bad chunk size line", "5\r\nhello\r\nzz\r\n"],
  ["no CRLF after chunk data", "5\r\nhelloXY3\r\nabc\r\n0\r\n\r\n"],
  ["a chunk size of 2^53 (14 hex digits)", "20000000000000\r\nhello\r\n"],
  ["a chunk extension over max_header_size", `5;x=${"a".repeat(20_000)}\r\nhello\r\n0\r\n\r\n`],
];

for (const [what, body] of BAD_BODIES) {
  test(`a request body with ${what}: 400 with Connection: close, the server's connection closed`, {
    timeout: 15_000,
  }, async (t) => {
    // An origin that reads the head and the body and never answers: the body is all that can end this.
    const origin = await startTunnelOrigin(t, () => {});
    const p = await proxyTo(t, origin.port);
    const c = await RawClient.open(t, p.port("web"));
    c.write(POST);
    c.write(body);
    let status = 0;
    try {
      status = (await c.response("POST", 5_000)).status;
      await c.endedWithin(5_000);
    } catch {}
    t.diagnostic(`client saw: ${seen(c)}`);
    assert.equal(status, 400, `client saw: ${seen(c)}`);
    assert.match(c.all.toString("latin1"), /\r\nConnection: close\r\n/);
    assert.ok(c.ended);
    await c.until(() => origin.conns.every((o) => o.closed), 5_000, "the server's connection closed");
  });
}

test("a server's bad chunked answer before any byte reached the client: 502, and its connection is not reused", {
  timeout: 15_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (h, c) => {
    if (h.target === "/bad") c.sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    else c.sock.write(answer(200, "OK", `conn ${c.id}`));
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(GET("/bad"));
  let status = 0;
  try {
    status = (await c.response("GET", 5_000)).status;
  } catch {}
  t.diagnostic(`client saw: ${seen(c)}`);
  assert.equal(status, 502, `client saw: ${seen(c)}`);
  await origin.until(() => origin.conns[0]?.closed === true, 5_000, "the bad connection closed");
  const d = await RawClient.open(t, p.port("web"));
  assert.equal((await d.request(GET("/next"))).body.toString(), "conn 1");
});

test("a server's bad chunk after part of its answer reached the client: the client's connection is cut, the server's not reused", {
  timeout: 15_000,
}, async (t) => {
  let bad: (() => void) | undefined;
  const origin = await startRawOrigin(t, (h, c) => {
    if (h.target !== "/bad") {
      c.sock.write(answer(200, "OK", `conn ${c.id}`));
      return;
    }
    c.sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    bad = () => c.sock.write("5\r\nworldXY0\r\n\r\n");
  });
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(GET("/bad"));
  await c.until(() => c.all.includes("hello"), 5_000, "the first chunk at the client");
  bad?.();
  await c.endedWithin(5_000);
  t.diagnostic(`client saw: ${seen(c)}, ${c.all.length} bytes`);
  assert.ok(!c.all.includes("world"), "the bad chunk's bytes reached the client");
  await origin.until(() => origin.conns[0]?.closed === true, 5_000, "the bad connection closed");
  const d = await RawClient.open(t, p.port("web"));
  assert.equal((await d.request(GET("/next"))).body.toString(), "conn 1");
});
