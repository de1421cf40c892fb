// When a failed try may be made again on another server (issue #14): unsent always; sent only
// for a safe method without a body.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCodes, TrunklineError } from "../../src/core/errors.ts";
import { blamesServer, classifyFailure, mayRetry } from "../../src/protocols/http/outcome.ts";
import { QueueTimeout } from "../../src/protocols/http/wire/upstream-pool.ts";

const err = (code: string) => Object.assign(new Error("x"), { code });

test("connect failures were not sent; resets and timeouts on an open connection were", () => {
  assert.equal(
    classifyFailure(new TrunklineError(ErrorCodes.CONNECT_FAILED, "ECONNREFUSED: x"), false).sent,
    false,
  );
  assert.equal(classifyFailure(err("ECONNREFUSED"), true).sent, false);
  const ct = classifyFailure(new TrunklineError(ErrorCodes.CONNECT_TIMEOUT, "no connection"), false);
  assert.deepEqual([ct.sent, ct.timeout, ct.code], [false, true, "E_CONNECT_TIMEOUT"]);
  assert.equal(
    classifyFailure(new TrunklineError(ErrorCodes.TLS_FAILED, "cert"), false).code,
    "E_TLS_FAILED",
  );
  assert.equal(classifyFailure(err("ECONNRESET"), true).sent, true);
  assert.equal(classifyFailure(err("ECONNRESET"), true).code, "E_UPSTREAM_GONE");
  assert.equal(classifyFailure(err("ECONNRESET"), true).message, "ECONNRESET: x");
  const t = classifyFailure(new TrunklineError(ErrorCodes.UPSTREAM_TIMEOUT, "no answer"), true);
  assert.deepEqual([t.sent, t.timeout, t.code, t.message], [true, true, "E_UPSTREAM_TIMEOUT", "no answer"]);
});

test("retry rules: unsent any method; sent only GET/HEAD/OPTIONS without a body", () => {
  const unsent = classifyFailure(err("ECONNREFUSED"), false);
  const sent = classifyFailure(err("ECONNRESET"), true);
  assert.equal(mayRetry(unsent, "POST", true, 0), true);
  assert.equal(mayRetry(unsent, "POST", true, 10), false, "body bytes went out");
  assert.equal(mayRetry(sent, "GET", false, 0), true);
  assert.equal(mayRetry(sent, "HEAD", false, 0), true);
  assert.equal(mayRetry(sent, "POST", false, 0), false);
  assert.equal(mayRetry(sent, "DELETE", false, 0), false);
  assert.equal(mayRetry(sent, "GET", true, 0), false, "a GET with a body");
});

test("a connect that failed for want of this host's descriptors keeps E_LOCAL_RESOURCE and was not sent", () => {
  const f = classifyFailure(new TrunklineError(ErrorCodes.LOCAL_RESOURCE, "EMFILE: connect EMFILE"), false);
  assert.deepEqual([f.code, f.sent, f.timeout], [ErrorCodes.LOCAL_RESOURCE, false, false]);
  assert.equal(mayRetry(f, "POST", true, 0), true);
  assert.equal(blamesServer(new Error("x"), f), false, "passive health does not count it");
  const q = new QueueTimeout("no free connection within 1000ms");
  assert.equal(blamesServer(q, classifyFailure(q, false)), false, "nor a wait in the proxy's own queue");
  const refused = new TrunklineError(ErrorCodes.CONNECT_FAILED, "ECONNREFUSED: x");
  assert.equal(blamesServer(refused, classifyFailure(refused, false)), true);
});
