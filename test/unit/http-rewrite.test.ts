// Heads rewritten for the next hop, pure over bytes (RFC 9110 §7.6.1 hop-by-hop, §7.6.3 Via;
// X-Forwarded-*): what is dropped, what is carried byte for byte, what the proxy adds.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  isHeadError,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from "../../src/protocols/http/wire/head.ts";
import { clientResponseHead, forwardRequestHead } from "../../src/protocols/http/wire/rewrite.ts";

const crlf = (...ls: string[]) => ls.map((l) => `${l}\r\n`).join("");

function req(...ls: string[]): RequestHead {
  const r = parseRequestHead(Buffer.from(`${crlf(...ls)}\r\n`, "latin1"), 0, 65536);
  assert.ok(r !== undefined && !isHeadError(r), JSON.stringify(r));
  return r;
}

function res(...ls: string[]): ResponseHead {
  const r = parseResponseHead(Buffer.from(`${crlf(...ls)}\r\n`, "latin1"), 0, 65536, "GET");
  assert.ok(r !== undefined && !isHeadError(r), JSON.stringify(r));
  return r;
}

const pairs = (raw: string[]) => {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
};

const FWD = { client: "192.0.2.7", proto: "https", host: "app.test:81" } as const;

test("hop-by-hop fields and those Connection names are dropped, case-insensitively; the rest kept as sent", () => {
  const h = req(
    "GET /x HTTP/1.1",
    "Host: a",
    "CONNECTION: keep-alive, X-Private",
    "x-private: 1",
    "Keep-Alive: timeout=5",
    "TE: trailers",
    "Trailer: x",
    "Upgrade: h2c",
    "Proxy-Authorization: p",
    "Proxy-Connection: keep-alive",
    "Accept:   */*  ",
  );
  const out = forwardRequestHead(h, { client: "10.0.0.9", proto: "http", host: "a" });
  assert.ok(out.startsWith("GET /x HTTP/1.1\r\nHost: a\r\nAccept:   */*  \r\n"), out);
  assert.deepEqual(pairs(req(...out.split("\r\n").filter((l) => l !== "")).raw), [
    ["Host", "a"],
    ["Accept", "*/*"],
    ["X-Forwarded-For", "10.0.0.9"],
    ["X-Forwarded-Proto", "http"],
    ["X-Forwarded-Host", "a"],
    ["Forwarded", "for=10.0.0.9;proto=http;host=a"],
    ["X-Real-IP", "10.0.0.9"],
    ["Via", "1.1 trunkline"],
  ]);
  assert.ok(out.endsWith("\r\n\r\n"));
});

test("X-Forwarded-For is appended to, -Proto and -Host are ours, Via follows earlier ones, Expect is dropped", () => {
  const h = req(
    "POST /u HTTP/1.1",
    "Host: app.test:81",
    "X-Forwarded-For: 10.0.0.1",
    "x-forwarded-for: 10.0.0.2",
    "X-Forwarded-Proto: ftp",
    "X-Forwarded-Host: evil",
    "Via: 1.0 edge",
    "Expect: 100-continue",
    "Content-Length: 3",
  );
  const out = new Map(
    pairs(
      req(
        ...forwardRequestHead(h, FWD)
          .split("\r\n")
          .filter((l) => l !== ""),
      ).raw,
    ),
  );
  assert.equal(out.get("X-Forwarded-For"), "10.0.0.1, 10.0.0.2, 192.0.2.7");
  assert.equal(out.get("X-Forwarded-Proto"), "https");
  assert.equal(out.get("X-Forwarded-Host"), "app.test:81");
  assert.equal(out.get("Via"), "1.0 edge, 1.1 trunkline");
  assert.equal(out.has("Expect"), false, "the proxy answers 100-continue itself");
  assert.equal(out.get("Content-Length"), "3");
  assert.equal(out.get("Host"), "app.test:81");
});

test("a chunked request goes on chunked; an HTTP/1.0 request goes out as HTTP/1.1", () => {
  const c = forwardRequestHead(req("PUT / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked"), FWD);
  assert.match(c, /\r\nTransfer-Encoding: chunked\r\n\r\n$/);
  assert.equal((c.match(/Transfer-Encoding/g) ?? []).length, 1);
  assert.ok(
    forwardRequestHead(req("GET /old HTTP/1.0"), { ...FWD, host: "" }).startsWith("GET /old HTTP/1.1\r\n"),
  );
});

test("an upgrade keeps Upgrade and says Connection: upgrade", () => {
  const h = req(
    "GET /ws HTTP/1.1",
    "Host: a",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: k",
  );
  const out = pairs(
    req(
      ...forwardRequestHead(h, FWD, true)
        .split("\r\n")
        .filter((l) => l !== ""),
    ).raw,
  );
  assert.deepEqual(out.slice(0, 4), [
    ["Host", "a"],
    ["Upgrade", "websocket"],
    ["Sec-WebSocket-Key", "k"],
    ["Connection", "upgrade"],
  ]);
});

test("response head: status line kept, hop-by-hop dropped, our Via last, Set-Cookie kept one by one", () => {
  const h = res(
    "HTTP/1.0 201 Created Here",
    "Set-Cookie: a=1",
    "Set-Cookie: b=2",
    "Connection: keep-alive",
    "Keep-Alive: timeout=5",
    "Transfer-Encoding: chunked",
    "Via: 1.1 origin-cache",
  );
  assert.equal(
    clientResponseHead(h),
    "HTTP/1.1 201 Created Here\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nVia: 1.1 origin-cache, 1.1 trunkline\r\n",
  );
  assert.equal(clientResponseHead(res("HTTP/1.1 204")), "HTTP/1.1 204\r\nVia: 1.1 trunkline\r\n");
});

test("Content-Length is written once from the framing read; Connection cannot strip it", () => {
  const h = req(
    "POST /a HTTP/1.1",
    "Host: a",
    "Content-Length: 5, 5",
    "Connection: Content-Length, x",
    "Content-Length: 5",
  );
  const out = forwardRequestHead(h, FWD);
  assert.equal((out.match(/Content-Length/gi) ?? []).length, 1, out);
  assert.match(out, /\r\nContent-Length: 5\r\n/);
  assert.match(
    forwardRequestHead(req("POST /a HTTP/1.1", "Host: a", "Content-Length: 0"), FWD),
    /\r\nContent-Length: 0\r\n/,
  );
  assert.doesNotMatch(forwardRequestHead(req("GET /a HTTP/1.1", "Host: a"), FWD), /Content-Length/);
  const r = clientResponseHead(res("HTTP/1.1 200 OK", "Content-Length: 10", "Connection: Content-Length"));
  assert.equal(r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nVia: 1.1 trunkline\r\n");
  const head = parseResponseHead(
    Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "latin1"),
    0,
    65536,
    "HEAD",
  );
  assert.ok(head !== undefined && !isHeadError(head));
  assert.equal(
    clientResponseHead(head),
    "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nVia: 1.1 trunkline\r\n",
    "a HEAD answer keeps its length",
  );
});

test("each request's forwarding fields name its own client, scheme and host, whatever came before it", () => {
  const h = req("GET / HTTP/1.1", "Host: a.test");
  const fields = (f: { client: string; proto: "http" | "https"; host: string }) =>
    new Map(
      pairs(
        req(
          ...forwardRequestHead(h, f)
            .split("\r\n")
            .filter((l) => l !== ""),
        ).raw,
      ),
    );
  // In turns, so that each comes right after another: none may get the fields made for the last.
  const cases = [
    [{ client: "192.0.2.7", proto: "http", host: "a.test" }, "for=192.0.2.7;proto=http;host=a.test"],
    [{ client: "192.0.2.8", proto: "http", host: "a.test" }, "for=192.0.2.8;proto=http;host=a.test"],
    [{ client: "192.0.2.8", proto: "https", host: "a.test" }, "for=192.0.2.8;proto=https;host=a.test"],
    [
      { client: "192.0.2.8", proto: "https", host: "b.test:81" },
      'for=192.0.2.8;proto=https;host="b.test:81"',
    ],
    [{ client: "2001:db8::1", proto: "https", host: "" }, 'for="[2001:db8::1]";proto=https'],
  ] as const;
  for (let round = 0; round < 2; round++)
    for (const [f, forwarded] of cases) {
      const got = fields(f);
      const at = JSON.stringify(f);
      assert.equal(got.get("Forwarded"), forwarded, at);
      assert.equal(got.get("X-Forwarded-For"), f.client, at);
      assert.equal(got.get("X-Real-IP"), f.client, at);
      assert.equal(got.get("X-Forwarded-Proto"), f.proto, at);
      assert.equal(got.get("X-Forwarded-Host"), f.host === "" ? undefined : f.host, at);
      assert.equal(got.get("Via"), "1.1 trunkline", at);
    }
});
