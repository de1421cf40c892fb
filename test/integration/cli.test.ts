import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { agiCall } from "../helpers/asterisk.ts";
import { runCli, startCli } from "../helpers/cli.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});
const dir = mkdtempSync(join(tmpdir(), "trunkline-cli-"));

test("check: ok for the example config, file:line:col path: message per problem and exit 1 otherwise", async () => {
  const good = await runCli(["check", "-c", "trunkline.example.yaml"]);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /ok \(1 listener, 2 routes, 1 pool\)/);
  const bad = join(dir, "bad.yaml");
  writeFileSync(
    bad,
    "listeners:\n  - name: agi\n    protocol: fastagi\n    listen: 127.0.0.1:99999\n    colour: blue\nroutes:\n  - { listener: agi, pool: nope }\n",
  );
  const r = await runCli(["check", "-c", bad]);
  assert.equal(r.code, 1);
  const lines = r.stdout.trim().split("\n");
  assert.deepEqual(lines, [`${bad}:2:5 listeners[0]: unknown key "colour"`]);
  writeFileSync(
    bad,
    "listeners:\n  - name: agi\n    protocol: fastagi\n    listen: 127.0.0.1:99999\nroutes:\n  - { listener: agi, pool: nope }\n",
  );
  const r2 = await runCli(["check", "-c", bad]);
  assert.equal(r2.code, 1);
  assert.deepEqual(r2.stdout.trim().split("\n"), [
    `${bad}:4:13 listeners[0].listen: port 99999 is out of range`,
    `${bad}:6:28 routes[0].pool: no pool named "nope"`,
  ]);
});

test("route: prints listener, route, pool, rewritten request and servers in order; exit 2 on no match", async () => {
  const f = join(dir, "route.yaml");
  writeFileSync(
    f,
    `listeners: [ { name: agi, protocol: fastagi, listen: 0.0.0.0:4573 } ]
routes:
  - { name: ivr, listener: agi, match: { path: "^/ivr/(?<app>[a-z]+)$", header: { agi_context: ^inbound } }, rewrite: /apps/$<app>, pool: ivr }
pools:
  ivr:
    balance: round-robin
    servers:
      - { address: 10.0.0.11:4573, weight: 2, max_sessions: 200 }
      - { address: 10.0.0.12:4574 }
      - { address: 10.0.0.13, backup: true }
`,
  );
  const r = await runCli([
    "route",
    "-c",
    f,
    "agi://proxy:4573/ivr/menu?lang=fr",
    "--header",
    "agi_context=inbound-sip",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "listener: agi (0.0.0.0:4573)",
      "route:    ivr",
      "request:  agi_request: agi://proxy:4573/apps/menu?lang=fr   (rewritten)",
      "          agi_network_script: apps/menu?lang=fr",
      "pool:     ivr (balance: round-robin)",
      "servers (in the order they would be tried):",
      "  1. 10.0.0.11:4573  (weight 2, max_sessions 200)",
      "  2. 10.0.0.12:4574  (weight 1)",
      "  3. 10.0.0.13:4573  (weight 1, backup)",
      "",
    ].join("\n"),
  );
  const none = await runCli(["route", "-c", f, "agi://proxy:4573/ivr/menu"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no route of listener agi matches/);
});

test("run: SIGTERM drains (in-flight session completes, new ones refused), exits 0; SIGHUP reloads", async () => {
  const up = await startAgiServer({ commands: ["NOOP", "NOOP"], holdOpenMs: 800 });
  cleanup.push(up.close);
  const f = join(dir, "run.yaml");
  writeFileSync(
    f,
    `listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]\nroutes: [ { listener: agi, pool: main } ]\npools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }\n`,
  );
  const proc = startCli(["-c", f]);
  cleanup.push(() => proc.kill());
  await proc.waitFor((l) => l.msg === "trunkline started");
  // Port 0 in the config: the kernel picks a free port, read back from the log.
  const port = Number((await proc.waitFor((l) => l.msg === "listening")).port);
  writeFileSync(
    f,
    `log: { level: debug }\nlisteners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]\nroutes: [ { listener: agi, pool: main } ]\npools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }\n`,
  );
  proc.child.kill("SIGHUP");
  await proc.waitFor((l) => l.event === "reload" && l.msg === "configuration reloaded");
  const inflight = agiCall({ port, url: "agi://x/y", timeoutMs: 6000 });
  await new Promise((r) => setTimeout(r, 300));
  proc.child.kill("SIGTERM");
  await proc.waitFor((l) => l.event === "shutdown" && l.signal === "SIGTERM");
  const late = await agiCall({ port, url: "agi://x/y", timeoutMs: 2000 });
  // Refused at connect, as Asterisk would see it (AGISTATUS=FAILURE without a byte read).
  assert.equal(late.closedBy, "error", "new sessions are refused while draining");
  assert.match(String(late.error?.message), /ECONNREFUSED/);
  assert.equal(late.raw.length, 0);
  const r = await inflight;
  assert.equal(r.status, "SUCCESS");
  assert.deepEqual(r.commands, ["NOOP", "NOOP"]);
  assert.equal(await proc.exited(), 0);
});

test("run: a second signal exits at once", async () => {
  const up = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 10_000 });
  cleanup.push(up.close);
  const f = join(dir, "run2.yaml");
  writeFileSync(
    f,
    `listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]\nroutes: [ { listener: agi, pool: main } ]\npools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }\n`,
  );
  const proc = startCli(["run", "-c", f]);
  cleanup.push(() => proc.kill());
  await proc.waitFor((l) => l.msg === "trunkline started");
  const port = Number((await proc.waitFor((l) => l.msg === "listening")).port);
  const inflight = agiCall({ port, url: "agi://x/y", timeoutMs: 6000 });
  await new Promise((r) => setTimeout(r, 300));
  proc.child.kill("SIGINT");
  await proc.waitFor((l) => l.event === "shutdown");
  const t = Date.now();
  proc.child.kill("SIGINT");
  assert.equal(await proc.exited(3000), 1);
  assert.ok(Date.now() - t < 2000);
  await inflight;
});

test("run: a broken config at start exits 1 with the problem", async () => {
  const f = join(dir, "broken.yaml");
  writeFileSync(f, "listeners: []\n");
  const r = await runCli(["run", "-c", f]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /broken\.yaml:1:12 listeners: define at least one listener/);
});

test("the built bin runs as a program (what npx trunkline and the package's bin execute): the build keeps it executable", () => {
  const bin = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
  const out = execFileSync(bin, ["--help"], { encoding: "utf8", timeout: 10_000 });
  assert.match(out, /^trunkline/);
});
