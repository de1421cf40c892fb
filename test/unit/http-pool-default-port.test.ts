// Issue #14: a server of an http pool given without a port is on port 80. The default is the
// pool's protocol's (taken from the routes that name it), so the same address in a FastAGI
// pool is on 4573: the test checks the port comes from HTTP, not from one number for all.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import type { Snapshot } from "../../src/config/types.ts";

const config = (pools: string, routes = "  - { listener: web, pool: web }") => `
listeners:
  - { name: web, protocol: http, listen: 127.0.0.1:0 }
  - { name: agi, protocol: fastagi, listen: 127.0.0.1:0 }
routes:
${routes}
pools:
${pools}
`;

/** Each server of pool `name` as "key host port". */
function servers(s: Snapshot, name: string): string[] {
  const p = s.pools.get(name);
  assert.ok(p, `pool ${name}`);
  return p.servers.map((v) => `${v.key} ${v.address.host} ${v.address.port}`);
}

test("an http pool server without a port is on port 80 (IPv4, name, IPv6); a given port is kept", () => {
  const s = parseConfigText(
    config(`  web:
    servers:
      - { address: 10.0.0.1 }
      - { address: origin.internal }
      - { address: "[2001:db8::1]" }
      - { address: "2001:db8::2" }
      - { address: 10.0.0.9:8080 }
`),
    "/tmp/c.yaml",
  );
  assert.deepEqual(servers(s, "web"), [
    "10.0.0.1:80 10.0.0.1 80",
    "origin.internal:80 origin.internal 80",
    "[2001:db8::1]:80 2001:db8::1 80",
    "[2001:db8::2]:80 2001:db8::2 80",
    "10.0.0.9:8080 10.0.0.9 8080",
  ]);
});

test("the default port is the pool's protocol's: 80 for the http route's pool, 4573 for the fastagi one", () => {
  const s = parseConfigText(
    config(
      `  web: { servers: [ { address: 10.0.0.1 } ] }
  agi: { servers: [ { address: 10.0.0.1 } ] }
`,
      "  - { listener: web, pool: web }\n  - { listener: agi, pool: agi }",
    ),
    "/tmp/c.yaml",
  );
  assert.deepEqual(servers(s, "web"), ["10.0.0.1:80 10.0.0.1 80"]);
  assert.deepEqual(servers(s, "agi"), ["10.0.0.1:4573 10.0.0.1 4573"]);
});

test("a port-less http server and the same server with :80 are one server (listed twice is refused)", () => {
  assert.throws(
    () =>
      parseConfigText(
        config("  web: { servers: [ { address: 10.0.0.1 }, { address: 10.0.0.1:80 } ] }\n"),
        "/tmp/c.yaml",
      ),
    /10\.0\.0\.1:80 is listed twice in pool "web"/,
  );
});
