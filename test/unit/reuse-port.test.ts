import assert from "node:assert/strict";
import { test } from "node:test";
import { reusePortSupported, sharesPort } from "../../src/net/reuse-port.ts";

test("reusePort: from Node 22.12 on (the v23.1.0 option, backported), never before", () => {
  for (const v of ["20.20.2", "v20.19.0", "21.7.3", "22.0.0", "22.11.9", "18.20.4"])
    assert.equal(reusePortSupported(v, "linux"), false, v);
  for (const v of ["22.12.0", "v22.12.0", "22.20.1", "23.0.0", "23.1.0", "24.22.3", "25.0.0-pre"])
    assert.equal(reusePortSupported(v, "linux"), true, v);
});

test("reusePort: Linux and FreeBSD only (libuv fails the bind elsewhere)", () => {
  assert.equal(reusePortSupported("24.22.3", "freebsd"), true);
  for (const p of ["darwin", "win32", "openbsd"]) assert.equal(reusePortSupported("24.22.3", p), false, p);
});

test("reusePort: a port the kernel chooses is never shared", () => {
  assert.equal(sharesPort(true, 4573), true);
  assert.equal(sharesPort(true, 0), false);
  assert.equal(sharesPort(false, 4573), false);
});
