// When a failed try may be made again on another server (issue #14): unsent always; sent only
// for a safe method without a body.
import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyFailure, mayRetry } from "../../src/protocols/http/outcome.ts";

const err = (code: string) => Object.assign(new Error("x"), { code });

test("connect failures were not sent; resets and timeouts after the write were", () => {
  assert.equal(classifyFailure(err("ECONNREFUSED")).sent, false);
  assert.equal(classifyFailure(err("UND_ERR_CONNECT_TIMEOUT")).code, "E_CONNECT_TIMEOUT");
  assert.equal(classifyFailure(err("UND_ERR_SOCKET")).sent, true);
  assert.equal(classifyFailure(err("ECONNRESET")).code, "E_UPSTREAM_GONE");
  const t = classifyFailure(err("UND_ERR_HEADERS_TIMEOUT"));
  assert.deepEqual([t.sent, t.timeout, t.code], [true, true, "E_UPSTREAM_TIMEOUT"]);
});

test("retry rules: unsent any method; sent only GET/HEAD/OPTIONS without a body", () => {
  const unsent = classifyFailure(err("ECONNREFUSED"));
  const sent = classifyFailure(err("UND_ERR_SOCKET"));
  assert.equal(mayRetry(unsent, "POST", true, 0), true);
  assert.equal(mayRetry(unsent, "POST", true, 10), false, "body bytes went out");
  assert.equal(mayRetry(sent, "GET", false, 0), true);
  assert.equal(mayRetry(sent, "HEAD", false, 0), true);
  assert.equal(mayRetry(sent, "POST", false, 0), false);
  assert.equal(mayRetry(sent, "DELETE", false, 0), false);
  assert.equal(mayRetry(sent, "GET", true, 0), false, "a GET with a body");
});
