// A sip-options check pings over the transport the pool's servers are reached with: the first
// transport of the SIP listeners that route to the pool, or the one the check names.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText as parseConfig } from "../../src/app/config.ts";
import { problems } from "../helpers/config-problems.ts";

function checks(text: string, pool = "fs") {
  return parseConfig(text, "t.yaml").pools.get(pool)?.health?.checks;
}

const pool = (check: string) => `
pools:
  fs:
    servers: [ { address: 127.0.0.1:5061 } ]
    health: { checks: [ ${check} ] }
`;

test("sip-options: a bare check pings over the listener's first transport: udp, tcp or tls", () => {
  assert.deepEqual(
    checks(`
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060, transports: [udp, tcp] } ]
routes: [ { listener: sip, pool: fs } ]
${pool("sip-options")}`),
    [{ kind: "sip-options", transport: "udp" }],
  );
  assert.deepEqual(
    checks(`
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060, transports: [tcp, udp] } ]
routes: [ { listener: sip, pool: fs } ]
${pool("sip-options")}`),
    [{ kind: "sip-options", transport: "tcp" }],
  );
  assert.deepEqual(
    checks(
      `
listeners:
  - { name: sips, protocol: sip, listen: 127.0.0.1:5061, transports: [tls], tls: { cert: ../fixtures/tls/server.pem, key: ../fixtures/tls/server.key } }
routes: [ { listener: sips, pool: fs } ]
${pool("sip-options")}`.replaceAll("../fixtures", `${new URL("../fixtures", import.meta.url).pathname}`),
    ),
    [{ kind: "sip-options", transport: "tls" }],
  );
});

test("sip-options: the check can name its transport, whatever the listener's", () => {
  assert.deepEqual(
    checks(`
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060 } ]
routes: [ { listener: sip, pool: fs } ]
${pool("{ sip-options: tcp }")}`),
    [{ kind: "sip-options", transport: "tcp" }],
  );
  assert.ok(
    problems(`
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060 } ]
routes: [ { listener: sip, pool: fs } ]
${pool("{ sip-options: sctp }")}`).some(
      (l) => l.startsWith("t.yaml") && l.includes("pools.fs.health.checks[0]"),
    ),
  );
});

test("sip-options: listeners that reach the pool's servers over different transports make a bare check ambiguous", () => {
  const two = `
listeners:
  - { name: a, protocol: sip, listen: 127.0.0.1:5060, transports: [udp] }
  - { name: b, protocol: sip, listen: 127.0.0.1:5070, transports: [tcp] }
  - { name: c, protocol: sip, listen: 127.0.0.1:5080, transports: [udp] }
routes: [ { listener: a, pool: fs }, { listener: b, pool: fs }, { listener: c, pool: fs } ]
`;
  const lines = problems(two + pool("sip-options"));
  assert.ok(
    lines.some((l) =>
      l.includes(
        "pools.fs.health.checks[0]: the pool's servers are reached over udp (listener a, c) and tcp (listener b): name the ping's, as { sip-options: udp }",
      ),
    ),
    lines.join("\n"),
  );
  assert.deepEqual(checks(two + pool("{ sip-options: tcp }")), [{ kind: "sip-options", transport: "tcp" }]);
});

test("sip-options: not a check of other protocols' pools, in either form", () => {
  for (const c of ["sip-options", "{ sip-options: udp }"])
    assert.ok(
      problems(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:4573 } ]
routes: [ { listener: agi, pool: fs } ]
${pool(c)}`).some((l) => l.includes("sip-options applies to sip pools only")),
      c,
    );
});
