// The descriptor check on a running proxy: under `ulimit -n 256`, a config whose FastAGI cap
// fits says nothing; a reload to the default cap (10,000 connections, 20,001 descriptors) logs
// one warn line with the figures, and the proxy runs on.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startCli } from "../helpers/cli.ts";

const config = (cap: string) => `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0${cap} } ]
routes: [ { listener: agi, pool: p } ]
pools: { p: { servers: [ { address: 127.0.0.1:1 } ] } }
`;

test("ulimit -n 256: max_connections 50 fits, the default 10,000 gets a warn line at reload", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tl-fd-budget-"));
  const file = join(dir, "t.yaml");
  writeFileSync(file, config(", max_connections: 50"));
  const proc = startCli(["run", "-c", file, "--no-watch"], { maxOpenFiles: 256 });
  t.after(() => proc.kill());
  await proc.waitFor((l) => l.msg === "trunkline started", 60_000);
  const warned = (l: Record<string, unknown>) => l.event === "descriptors";
  assert.equal(proc.lines.filter(warned).length, 0, "64 + 101 descriptors fit in 256");

  writeFileSync(`${file}.tmp`, config(""));
  renameSync(`${file}.tmp`, file);
  proc.child.kill("SIGHUP");
  const w = await proc.waitFor(warned, 30_000);
  assert.equal(w.level, 40, "a warn line");
  assert.equal(w.limit, 256);
  assert.equal(w.need, 64 + 1 + 2 * 10_000);
  assert.deepEqual(w.listeners, { agi: 20_001 });
  assert.match(String(w.msg), /ulimit -n/);
  // The reload itself went through: the warning is advice, not a refusal.
  await proc.waitFor((l) => l.msg === "configuration reloaded", 10_000);
});
