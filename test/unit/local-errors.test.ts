import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCodes, TrunklineError } from "../../src/core/errors.ts";
import { probeFailure } from "../../src/health/probe-failure.ts";
import { isLocalResourceError } from "../../src/net/local-errors.ts";

const errno = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

test("this host's shortages are local; the server's refusals, resets and timeouts are not", () => {
  for (const c of ["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]) assert.ok(isLocalResourceError(errno(c)), c);
  // EADDRNOTAVAIL is also an address this host cannot reach at all: that server must go down.
  for (const c of ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"])
    assert.equal(isLocalResourceError(errno(c)), false, c);
  assert.ok(isLocalResourceError(new TrunklineError(ErrorCodes.LOCAL_RESOURCE, "EMFILE: x")));
  assert.equal(
    isLocalResourceError(new TrunklineError(ErrorCodes.CONNECT_FAILED, "EMFILE in the text only")),
    false,
  );
  assert.equal(isLocalResourceError(undefined), false);
  assert.equal(isLocalResourceError("EMFILE"), false);
});

test("a health check's failure is marked local (no verdict) only for this host's shortages", () => {
  assert.deepEqual(probeFailure("http check", errno("EMFILE")), {
    ok: false,
    reason: "http check: EMFILE",
    local: true,
  });
  assert.deepEqual(probeFailure("sip-options", errno("ECONNREFUSED")), {
    ok: false,
    reason: "sip-options: ECONNREFUSED",
  });
});
