// Header rewriting, pure (RFC 9110 §7.6.1 hop-by-hop, §7.6.3 Via; X-Forwarded-*).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  clientResponseHeaders,
  endToEnd,
  hasBody,
  upstreamRequestHeaders,
} from "../../src/protocols/http/headers.ts";

const pairs = (raw: string[]) => {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
};

test("hop-by-hop fields and those Connection names are dropped, case-insensitively", () => {
  const raw = [
    "Host",
    "a",
    "CONNECTION",
    "close, X-Private",
    "x-private",
    "1",
    "Keep-Alive",
    "timeout=5",
    "TE",
    "trailers",
    "Trailer",
    "x",
    "Transfer-Encoding",
    "chunked",
    "Upgrade",
    "h2c",
    "Proxy-Authorization",
    "p",
    "Proxy-Connection",
    "keep-alive",
    "Accept",
    "*/*",
  ];
  assert.deepEqual(pairs(endToEnd(raw)), [
    ["Host", "a"],
    ["Accept", "*/*"],
  ]);
});

test("an upgrade keeps Upgrade and says Connection: upgrade", () => {
  const out = endToEnd(["Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Key", "k"], {
    keepUpgrade: true,
  });
  assert.deepEqual(pairs(out), [
    ["Upgrade", "websocket"],
    ["Sec-WebSocket-Key", "k"],
    ["Connection", "upgrade"],
  ]);
});

test("X-Forwarded-For is appended to, -Proto and -Host are ours, Via follows earlier ones", () => {
  const raw = [
    "Host",
    "app.test:81",
    "X-Forwarded-For",
    "10.0.0.1",
    "x-forwarded-for",
    "10.0.0.2",
    "X-Forwarded-Proto",
    "ftp",
    "X-Forwarded-Host",
    "evil",
    "Via",
    "1.0 edge",
    "Expect",
    "100-continue",
  ];
  const out = new Map(
    pairs(upstreamRequestHeaders(raw, { client: "192.0.2.7", proto: "https", host: "app.test:81" })),
  );
  assert.equal(out.get("X-Forwarded-For"), "10.0.0.1, 10.0.0.2, 192.0.2.7");
  assert.equal(out.get("X-Forwarded-Proto"), "https");
  assert.equal(out.get("X-Forwarded-Host"), "app.test:81");
  assert.equal(out.get("Via"), "1.0 edge, 1.1 trunkline");
  assert.equal(out.has("Expect"), false, "Node answers 100-continue itself");
  assert.equal(out.get("Host"), "app.test:81");
});

test("response headers: hop-by-hop dropped, our Via last, Set-Cookie kept one by one", () => {
  const raw = [
    "Set-Cookie",
    "a=1",
    "Set-Cookie",
    "b=2",
    "Connection",
    "keep-alive",
    "Keep-Alive",
    "timeout=5",
  ];
  assert.deepEqual(pairs(clientResponseHeaders(raw)), [
    ["Set-Cookie", "a=1"],
    ["Set-Cookie", "b=2"],
    ["Via", "1.1 trunkline"],
  ]);
});

test("a body is there with Transfer-Encoding or a non-zero Content-Length (RFC 9112 §6.3)", () => {
  assert.equal(hasBody({}), false);
  assert.equal(hasBody({ "content-length": "0" }), false);
  assert.equal(hasBody({ "content-length": "3" }), true);
  assert.equal(hasBody({ "transfer-encoding": "chunked" }), true);
});
