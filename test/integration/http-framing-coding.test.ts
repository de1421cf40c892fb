// Transfer codings of a request (RFC 9112 §6.1, §6.3, §7): framed only by a final chunked;
// a final coding other than chunked is 400 and a close, a coding the proxy does not know is
// 501, Transfer-Encoding with Content-Length is 400; the codings before chunked reach the
// server as they were sent. Trailers (§7.1.2) lose the fields that frame or route a message.
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import {
  decodeChunked,
  proxyTo,
  RawClient,
  SMUGGLED,
  startBodyOrigin,
  startRawOrigin,
} from "../helpers/raw-http.ts";

const post = (te: string, body = "5\r\nhello\r\n0\r\n\r\n", more = "") =>
  `POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${te}\r\n${more}\r\n${body}`;

/** Sends `req` (a smuggled request after it) and says what came back: the status, a close, what the origin read. */
async function refused(
  t: TestContext,
  req: string,
): Promise<{ status: number; closed: boolean; seen: number; text: string }> {
  const origin = await startRawOrigin(t, (_h, c) =>
    c.sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
  );
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  c.write(req + SMUGGLED);
  let status = 0;
  try {
    status = (await c.response("POST", 5_000)).status;
    await c.endedWithin(5_000);
  } catch {}
  return { status, closed: c.ended, seen: origin.seen.length, text: c.all.toString("latin1") };
}

for (const [te, code] of [
  ["gzip", 400],
  ["identity", 400],
  ["chunked, gzip", 400],
  ["gzip, deflate", 400],
  ["foo, chunked", 501],
  ["identity, chunked", 501],
] as const) {
  test(`Transfer-Encoding: ${te} in a request: ${code}, the connection closed, the server sees nothing`, {
    timeout: 15_000,
  }, async (t) => {
    const r = await refused(t, post(te));
    t.diagnostic(`status ${r.status}, closed ${r.closed}, origin read ${r.seen} requests`);
    assert.deepEqual([r.status, r.closed, r.seen], [code, true, 0], r.text.slice(0, 200));
    assert.match(r.text, /\r\nConnection: close\r\n/);
  });
}

test("Transfer-Encoding with Content-Length in a request: 400, the connection closed, the server sees nothing", {
  timeout: 15_000,
}, async (t) => {
  for (const [te, cl] of [
    ["chunked", "5"],
    ["gzip, chunked", "0"],
  ] as const) {
    const r = await refused(t, post(te, "5\r\nhello\r\n0\r\n\r\n", `Content-Length: ${cl}\r\n`));
    t.diagnostic(`TE ${te} + CL ${cl}: status ${r.status}, closed ${r.closed}, origin read ${r.seen}`);
    assert.deepEqual([r.status, r.closed, r.seen], [400, true, 0]);
  }
});

test("Transfer-Encoding: gzip, chunked: framed by the final chunked, passed on with its gzip", {
  timeout: 15_000,
}, async (t) => {
  const body = "5\r\nhello\r\n0\r\n\r\n";
  const origin = await startBodyOrigin(
    t,
    (b) => b.includes("0\r\n\r\n"),
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  );
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  for (const fields of [
    "Transfer-Encoding: gzip, chunked",
    "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
  ]) {
    const r = await c.request(`POST /up HTTP/1.1\r\nHost: a\r\n${fields}\r\n\r\n${body}`, "POST");
    assert.equal(r.status, 200);
  }
  const heads = origin.conns.map((o) => o.bytes.toString("latin1"));
  const te = heads.join("").match(/\r\nTransfer-Encoding: [^\r]*/gi) ?? [];
  t.diagnostic(`the server read ${JSON.stringify(te)}`);
  assert.deepEqual(
    te.map((l) => l.slice(2)),
    ["Transfer-Encoding: gzip, chunked", "Transfer-Encoding: gzip, chunked"],
  );
  assert.equal(heads.join("").split(body).length - 1, 2, "each body passed on as it came");
});

const BAD_TRAILERS = "Content-Length: 7\r\nHost: evil.example\r\nTransfer-Encoding: chunked\r\nX-Sum: 1\r\n";

test("a request's trailers lose Content-Length, Host and Transfer-Encoding, keep the rest", {
  timeout: 15_000,
}, async (t) => {
  const origin = await startBodyOrigin(
    t,
    (b) => b.includes("\r\n\r\n"),
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  );
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  const r = await c.request(post("chunked", `5\r\nhello\r\n0\r\n${BAD_TRAILERS}\r\n`), "POST");
  assert.equal(r.status, 200);
  const o = origin.conns[0];
  assert.ok(o !== undefined);
  const d = decodeChunked(o.bytes, o.headEnd);
  t.diagnostic(`the server read trailers ${JSON.stringify(d?.trailers)}`);
  assert.equal(d?.data.toString(), "hello");
  assert.deepEqual(d?.trailers, [["X-Sum", "1"]]);
});

test("an answer's trailers lose Content-Length, Host and Transfer-Encoding, keep the rest", {
  timeout: 15_000,
}, async (t) => {
  const origin = await startRawOrigin(t, (_h, c) =>
    c.sock.write(
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${BAD_TRAILERS}\r\n`,
    ),
  );
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  const r = await c.request("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  t.diagnostic(`the client read trailers ${JSON.stringify(r.trailers)}`);
  assert.equal(r.body.toString(), "hello");
  assert.deepEqual(r.trailers, [["X-Sum", "1"]]);
  // The connection still carries a request after it.
  assert.equal((await c.request("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")).status, 200);
});

/** A client of the proxy, whose server answers every request in Transfer-Encoding: gzip, chunked. */
async function gzipChunkedThrough(t: TestContext): Promise<RawClient> {
  const origin = await startRawOrigin(t, (_h, c) =>
    c.sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
  );
  const p = await proxyTo(t, origin.port);
  const c = await RawClient.open(t, p.port("web"));
  return c;
}

test("an answer in Transfer-Encoding: gzip, chunked reaches an HTTP/1.1 client with its gzip named", {
  timeout: 15_000,
}, async (t) => {
  const c = await gzipChunkedThrough(t);
  const r = await c.request("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  const te = r.fields.filter(([n]) => n.toLowerCase() === "transfer-encoding").map(([, v]) => v);
  t.diagnostic(`the client read Transfer-Encoding ${JSON.stringify(te)}`);
  // The body's bytes stay gzip-coded: without the name the client could not undo it.
  assert.deepEqual(te, ["gzip, chunked"]);
  assert.equal(r.body.toString(), "hello");
});

test("an answer in Transfer-Encoding: gzip, chunked to an HTTP/1.0 client is a 502: 1.0 cannot name the coding", {
  timeout: 15_000,
}, async (t) => {
  const c = await gzipChunkedThrough(t);
  c.write("GET / HTTP/1.0\r\nHost: a\r\n\r\n");
  await c.endedWithin(5_000);
  const text = c.all.toString("latin1");
  t.diagnostic(`the client read ${JSON.stringify(text.slice(0, 120))}`);
  // Before: a 200 whose body was the gzip-coded bytes, de-chunked, with nothing to name the coding.
  assert.match(text, /^HTTP\/1\.[01] 502 /);
  assert.doesNotMatch(text, /hello/);
});
