import assert from "node:assert/strict";
import { test } from "node:test";
import { browserGuard, hostName, isLoopbackName } from "../../src/observe/admin/guard.ts";

test("loopback names: 127/8, ::1 in its spellings, localhost; nothing else", () => {
  for (const h of [
    "127.0.0.1",
    "127.9.8.7",
    "[::1]",
    "::1",
    "localhost",
    "LOCALHOST",
    "x.localhost",
    "[::ffff:127.0.0.1]",
  ])
    assert.equal(isLoopbackName(h), true, h);
  for (const h of [
    "10.0.0.1",
    "0.0.0.0",
    "[::]",
    "evil.example",
    "127.0.0.1.evil.example",
    "localhost.evil",
    "",
    "[::2]",
  ])
    assert.equal(isLoopbackName(h), false, h);
});

test("hostName takes the host of a Host value and refuses malformed ones", () => {
  assert.equal(hostName("127.0.0.1:8404"), "127.0.0.1");
  assert.equal(hostName("LocalHost"), "localhost");
  assert.equal(hostName("[::1]:8404"), "[::1]");
  assert.equal(hostName("[::1]"), "[::1]");
  for (const bad of ["", "  ", "[::1", "[::1]x", "a:b", "a:99999999", "127.0.0.1:80:80"])
    assert.equal(hostName(bad), undefined, bad);
});

test("a loopback API serves only loopback Host values; any other Host is refused 403, reads included", () => {
  assert.equal(browserGuard({ host: "127.0.0.1:8404" }, true, false), undefined);
  assert.equal(browserGuard({ host: "localhost:9999" }, true, true), undefined, "an SSH tunnel's port");
  assert.equal(browserGuard({}, true, false), undefined, "HTTP/1.0 without Host: not a browser");
  assert.equal(browserGuard({ host: "evil.example:8404" }, true, false)?.status, 403);
  assert.equal(browserGuard({ host: "127.0.0.1.nip.io:8404" }, true, true)?.status, 403);
  // Off loopback (a token is then required) operators use DNS names.
  assert.equal(browserGuard({ host: "proxy1.example.com:8404" }, false, false), undefined);
});

test("a change from another origin or site is refused 403; same-origin and non-browser changes go on", () => {
  const host = "127.0.0.1:8404";
  assert.equal(
    browserGuard({ host, origin: "http://127.0.0.1:8404", "sec-fetch-site": "same-origin" }, true, true),
    undefined,
  );
  assert.equal(
    browserGuard({ host, "content-type": "application/json" }, true, true),
    undefined,
    "curl, trunkline ctl",
  );
  assert.equal(browserGuard({ host, origin: "http://evil.example" }, true, true)?.status, 403);
  assert.equal(browserGuard({ host, origin: "null" }, true, true)?.status, 403);
  assert.equal(
    browserGuard({ host, origin: "http://127.0.0.1:9999" }, true, true)?.status,
    403,
    "another port is another origin",
  );
  assert.equal(browserGuard({ host, "sec-fetch-site": "cross-site" }, true, true)?.status, 403);
  assert.equal(browserGuard({ host, "sec-fetch-site": "same-site" }, true, true)?.status, 403);
  assert.equal(
    browserGuard({ host, "sec-fetch-site": "none" }, true, true),
    undefined,
    "typed in the address bar",
  );
  // Reads from another site: the page cannot read the answer (no CORS), and they change nothing.
  assert.equal(
    browserGuard({ host, origin: "http://evil.example", "sec-fetch-site": "cross-site" }, true, false),
    undefined,
  );
});

test("a change never takes a form or text body type (a page sends those without a preflight): 415", () => {
  const host = "127.0.0.1:8404";
  for (const type of [
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "TEXT/PLAIN",
  ])
    assert.equal(browserGuard({ host, "content-type": type }, true, true)?.status, 415, type);
  assert.equal(
    browserGuard({ host, "content-type": "application/json; charset=utf-8" }, true, true),
    undefined,
  );
  assert.equal(
    browserGuard({ host, "content-type": "text/plain" }, false, true)?.status,
    415,
    "off loopback too",
  );
});
