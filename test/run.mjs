#!/usr/bin/env node
// Runs every test file under test/ with node:test (through tsx) and ends with the
// plain line `N passed, N failed, N skipped` that CI reads.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const filters = process.argv.slice(2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === "fixtures" || name === "node_modules") continue;
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

let files = walk(join(root, "test"))
  .map((f) => relative(root, f))
  .sort();
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}

const tmp = mkdtempSync(join(tmpdir(), "trunkline-tests-"));
const counts = join(tmp, "counts.jsonl");
// Most test time is waiting on sockets and timers, not CPU: 4 files at a time halves the
// wall time on this 2-core machine (measured: 57-62 s at 2, 36 s at 4, with two CPU hogs).
const concurrency = process.env.TEST_CONCURRENCY ?? "4";
const res = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    `--test-concurrency=${concurrency}`,
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=./test/counting-reporter.mjs",
    `--test-reporter-destination=${counts}`,
    ...files,
  ],
  { cwd: root, stdio: "inherit", env: { ...process.env, TRUNKLINE_TEST: "1" } },
);

let passed = 0;
let failed = 0;
let skipped = 0;
try {
  for (const line of readFileSync(counts, "utf8").split("\n")) {
    if (!line) continue;
    const ev = JSON.parse(line);
    if (ev.kind === "pass") passed++;
    else if (ev.kind === "fail") failed++;
    else if (ev.kind === "skip") skipped++;
  }
} catch (err) {
  console.error(`could not read test counts: ${err.message}`);
  failed++;
}
rmSync(tmp, { recursive: true, force: true });
if (res.status !== 0 && failed === 0) failed = 1; // a crash outside any test still fails the run
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
