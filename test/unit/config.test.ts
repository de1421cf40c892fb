import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfigFile, parseConfigText as parseConfig } from "../../src/app/config.ts";
import type { FastAgiRoute } from "../../src/protocols/fastagi/types.ts";
import { problems } from "../helpers/config-problems.ts";

const GOOD = `
listeners:
  - name: agi
    protocol: fastagi
    listen: 0.0.0.0:4573
routes:
  - listener: agi
    match:
      path: ^/ivr/(?<app>[a-z]+)$
      query: { lang: ^(fr|de)$ }
    rewrite: /apps/$<app>
    pool: ivr
  - listener: agi
    to: agi://10.0.0.9:4573/legacy
    match: { path: ^/legacy }
  - listener: agi
    pool: default
pools:
  ivr:
    balance: hash
    hash_key: \${agi_callerid}
    connect_timeout: 500ms
    servers:
      - { address: 10.0.0.11:4573, weight: 2, max_sessions: 200 }
      - { address: 10.0.0.13, backup: true }
  default:
    servers: [ { address: 127.0.0.1:4574 } ]
`;

test("a valid config normalises with defaults and is frozen", () => {
  const s = parseConfig(GOOD, "t.yaml");
  assert.equal(s.listeners[0]?.listen.port, 4573);
  assert.equal((s.listeners[0]!.options as { hangupGraceMs: number }).hangupGraceMs, 30_000);
  const ivr = s.pools.get("ivr")!;
  assert.equal(ivr.connectTimeoutMs, 500);
  assert.equal(ivr.servers[1]?.address.port, 4573);
  assert.equal(ivr.servers[1]?.backup, true);
  assert.equal((s.routes[1] as FastAgiRoute).to?.pathAndQuery, "/legacy");
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.routes[0]) && Object.isFrozen(ivr.servers));
  assert.throws(() => {
    (s.listeners as unknown as unknown[]).push(1);
  });
});

test("errors read file:line:col path: message and point at the value", () => {
  const lines = problems(GOOD.replace("connect_timeout: 500ms", "connect_timeout: soon"));
  assert.deepEqual(lines, [
    't.yaml:22:22 pools.ivr.connect_timeout: invalid duration "soon" (use e.g. 500ms, 2s, 1m)',
  ]);
});

test("unknown keys are errors, not ignored", () => {
  const lines = problems(GOOD.replace("    protocol: fastagi", "    protocol: fastagi\n    lisen: 1"));
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^t\.yaml:3:\d+ listeners\[0\]: unknown key "lisen"$/);
});

test("cross references and regexes are checked, all problems at once", () => {
  const text = GOOD.replace("pool: ivr", "pool: nope")
    .replace("^/legacy", "^/leg(acy")
    .replace("listener: agi\n    pool: default", "listener: other\n    pool: default");
  const lines = problems(text);
  assert.equal(lines.length, 3, lines.join("\n"));
  assert.ok(lines.some((l) => /routes\[0\]\.pool: no pool named "nope"/.test(l)));
  assert.ok(lines.some((l) => /routes\[1\]\.match\.path: invalid regular expression/.test(l)));
  assert.ok(lines.some((l) => /routes\[2\]\.listener: no listener named "other"/.test(l)));
});

test("a rewrite naming a group the path regex lacks is an error", () => {
  const lines = problems(GOOD.replace("rewrite: /apps/$<app>", "rewrite: /apps/$<nope>"));
  assert.match(lines[0]!, /routes\[0\]\.rewrite: \$<nope> names no group of match\.path/);
});

test("YAML syntax errors carry line and column", () => {
  const lines = problems("listeners:\n  - name: [unclosed\n");
  assert.match(lines[0]!, /^t\.yaml:\d+:\d+ \(root\): /);
});

test("a missing file and a missing certificate are clear errors", () => {
  assert.throws(
    () => loadConfigFile("/nonexistent/trunkline.yaml"),
    /nonexistent\/trunkline\.yaml:1:1 \(root\): cannot read config/,
  );
  const dir = mkdtempSync(join(tmpdir(), "tl-cfg-"));
  const f = join(dir, "c.yaml");
  writeFileSync(
    f,
    GOOD.replace(
      "listen: 0.0.0.0:4573",
      "listen: 0.0.0.0:4573\n    tls: { cert: missing.pem, key: missing.key }",
    ),
  );
  assert.throws(() => loadConfigFile(f), /listeners\[0\]\.tls\.cert: cannot read .*missing\.pem/);
});

test("SIP-only pool keys in a FastAGI pool are errors that say where they belong", () => {
  const lines = problems(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:4573 } ]
routes: [ { listener: agi, pool: p } ]
pools:
  p:
    failover_codes: [503]
    invite_timeout: 2s
    servers: [ { address: 127.0.0.1:4574, esl: { password: x } } ]
    health: { checks: [ tcp, sip-options ] }
`);
  for (const [where, key] of [
    ["pools.p.failover_codes", "failover_codes"],
    ["pools.p.invite_timeout", "invite_timeout"],
    ["pools.p.servers[0].esl", "esl"],
    ["pools.p.health.checks[1]", "sip-options"],
  ] as const)
    assert.ok(
      lines.some((l) =>
        l.includes(`${where}: ${key} applies to sip pools only (this pool is used by fastagi routes)`),
      ),
      `${where} in ${lines.join("\n")}`,
    );
  assert.equal(lines.filter((l) => l.includes("applies to sip pools only")).length, 4);
});

test("a FastAGI pool still gets the SIP defaults, unused: no esl, the default codes", () => {
  const snap = parseConfig(GOOD, "t.yaml");
  const ivr = snap.pools.get("ivr");
  assert.deepEqual(ivr?.failoverCodes, [500, 503, 408]);
  assert.equal(ivr?.inviteTimeoutMs, 2_000);
  assert.equal(ivr?.servers[0]?.esl, undefined);
  assert.ok(Object.isFrozen(ivr?.failoverCodes));
});

test("a SIP pool takes failover_codes, invite_timeout, esl and sip-options, with ESL defaults", () => {
  const snap = parseConfig(
    `
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060 } ]
routes: [ { listener: sip, pool: fs } ]
pools:
  fs:
    failover_codes: [503, 500, 503]
    invite_timeout: 1500ms
    servers:
      - { address: 10.0.0.21, esl: { port: 8022, password: s3cret } }
      - { address: 10.0.0.22, esl: {} }
      - { address: 10.0.0.23:5080 }
    health: { checks: [ sip-options ] }
`,
    "t.yaml",
  );
  const fs = snap.pools.get("fs");
  assert.deepEqual(fs?.failoverCodes, [503, 500]);
  assert.equal(fs?.inviteTimeoutMs, 1_500);
  assert.deepEqual(fs?.health?.checks, [{ kind: "sip-options", transport: "udp" }]);
  assert.deepEqual(
    fs?.servers.map((s) => [s.key, s.esl]),
    [
      ["10.0.0.21:5060", { host: "10.0.0.21", port: 8022, password: "s3cret", heartbeatTimeoutMs: 60_000 }],
      ["10.0.0.22:5060", { host: "10.0.0.22", port: 8021, password: "ClueCon", heartbeatTimeoutMs: 60_000 }],
      ["10.0.0.23:5080", undefined],
    ],
  );
  assert.deepEqual(
    problems(`
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060 } ]
routes: [ { listener: sip, pool: fs } ]
pools: { fs: { invite_timeout: 5m, servers: [ { address: 10.0.0.21 } ] } }
`).filter((l) => l.includes("invite_timeout")).length,
    1,
  );
});

test("ring_timeout: SIP pools only, 1s to 181s, Timer C's 181 s by default", () => {
  const sip = (pool: string) => `
listeners: [ { name: sip, protocol: sip, listen: 127.0.0.1:5060 } ]
routes: [ { listener: sip, pool: fs } ]
pools: { fs: { ${pool} servers: [ { address: 10.0.0.21 } ] } }
`;
  assert.equal(parseConfig(sip(""), "t.yaml").pools.get("fs")?.ringTimeoutMs, 181_000);
  assert.equal(parseConfig(sip("ring_timeout: 30s,"), "t.yaml").pools.get("fs")?.ringTimeoutMs, 30_000);
  for (const bad of ["500ms", "182s", "5m"])
    assert.ok(
      problems(sip(`ring_timeout: ${bad},`)).some((l) =>
        l.includes("pools.fs.ring_timeout: must be between 1s and 181s"),
      ),
      bad,
    );
  assert.ok(
    problems(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:4573 } ]
routes: [ { listener: agi, pool: fs } ]
pools: { fs: { ring_timeout: 30s, servers: [ { address: 10.0.0.21 } ] } }
`).some((l) => l.includes("ring_timeout applies to sip pools only")),
  );
});
