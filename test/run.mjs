#!/usr/bin/env node
// Runs every test file under test/ with node:test (through tsx) and ends with the
// plain line `N passed, N failed, N skipped` that CI reads.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
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

// Most test time is waiting on sockets and timers, not CPU: 4 files at a time halves the
// wall time on this 2-core machine (measured: 57-62 s at 2, 36 s at 4, with two CPU hogs).
const concurrency = process.env.TEST_CONCURRENCY ?? "4";

/**
 * The other Nodes the suite runs on after this one: the product runs unchanged on Node 20, 22
 * and 24 (package.json's engines), so each of them is proven by a whole run, not assumed (the
 * one of this Node's major is left out: this Node runs the suite).
 * scripts/ensure-node24.sh VERSION puts each in the cache (fetched once, from the npm
 * registry). TEST_OTHER_NODES (versions, comma-separated) replaces the list.
 */
const OTHER_NODES = (process.env.TEST_OTHER_NODES ?? "24.22.3,22.23.5,20.20.2")
  .split(",")
  .map((v) => v.trim().replace(/^v/, ""))
  .filter((v) => v !== "");
if (OTHER_NODES.length === 0) {
  console.error("TEST_OTHER_NODES lists no version (TEST_NODE24=0 runs this Node only)");
  process.exit(1);
}

/**
 * The Nodes to run the suite on: this one, then OTHER_NODES (a version of this Node's major
 * is left out: it would run the same suite on the same runtime twice). A filtered run
 * (`node test/run.mjs sip`) uses this Node only, unless TEST_NODE24=1; TEST_NODE24=0 skips
 * the other Nodes, and says so.
 */
function nodes() {
  const want = process.env.TEST_NODE24 ?? (filters.length > 0 ? "0" : "1");
  if (want === "0") {
    if (filters.length === 0) console.log("TEST_NODE24=0: the suite runs on this Node only");
    return [process.execPath];
  }
  const major = process.versions.node.split(".")[0];
  const mine = (v) => v.split(".")[0] === major;
  for (const v of OTHER_NODES.filter(mine))
    console.log(`# Node ${v}: this Node's major (${process.version}) runs the suite`);
  const others = OTHER_NODES.filter((v) => !mine(v)).map((version) => {
    const found = spawnSync("bash", [join(root, "scripts/ensure-node24.sh"), version], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    const bin = found.stdout.trim().split("\n").pop();
    if (found.status !== 0 || !bin) {
      console.error(
        `Node ${version} is missing and could not be fetched (scripts/ensure-node24.sh ${version})`,
      );
      process.exit(1);
    }
    return bin;
  });
  return [process.execPath, ...others];
}

/**
 * Files that measure the machine under a load of their own (500 sessions/s through a takeover):
 * they run after the others, one at a time, so that three other files beside two CPU hogs
 * cannot stall their load generator past Asterisk's 2 s connect bound (seen twice).
 */
const ALONE = ["takeover-load"];

/** One run of every file on `node`; its counts. */
function runOn(node) {
  const tmp = mkdtempSync(join(tmpdir(), "trunkline-tests-"));
  const version = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim();
  console.log(`# the suite on Node ${version} (${node})`);
  const alone = files.filter((f) => ALONE.some((a) => f.includes(a)));
  const together = files.filter((f) => !alone.includes(f));
  // Each batch writes counts of its own (a reporter destination is written anew).
  const batches = [
    [together, concurrency],
    [alone, "1"],
  ].filter(([list]) => list.length > 0);
  const statuses = batches.map(([list, conc], i) =>
    runFiles(node, list, conc, join(tmp, `counts-${i}.jsonl`)),
  );
  const c = { version, passed: 0, failed: 0, skipped: 0 };
  try {
    const lines = batches.flatMap((_, i) => readFileSync(join(tmp, `counts-${i}.jsonl`), "utf8").split("\n"));
    for (const line of lines) {
      if (!line) continue;
      const ev = JSON.parse(line);
      if (ev.kind === "pass") c.passed++;
      else if (ev.kind === "fail") c.failed++;
      else if (ev.kind === "skip") c.skipped++;
    }
  } catch (err) {
    console.error(`could not read test counts: ${err.message}`);
    c.failed++;
  }
  rmSync(tmp, { recursive: true, force: true });
  // a crash outside any test still fails the run
  if (statuses.some((s) => s !== 0) && c.failed === 0) c.failed = 1;
  return c;
}

/** node --test over `list`, `conc` files at a time, counts appended to `counts`; its exit status. */
function runFiles(node, list, conc, counts) {
  const res = spawnSync(
    node,
    [
      "--import",
      "tsx",
      "--test",
      `--test-concurrency=${conc}`,
      // A test that hangs fails after 5 minutes instead of holding CI to its 90-minute bound.
      "--test-timeout=300000",
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      "--test-reporter=./test/counting-reporter.mjs",
      `--test-reporter-destination=${counts}`,
      ...list,
    ],
    // PATH first: tests that start `node` by name (CLI tests) get the same Node.
    {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, TRUNKLINE_TEST: "1", PATH: `${dirname(node)}:${process.env.PATH ?? ""}` },
    },
  );
  return res.status;
}

const runs = nodes().map(runOn);
for (const r of runs)
  console.log(`Node ${r.version}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
const sum = (k) => runs.reduce((n, r) => n + r[k], 0);
console.log(`${sum("passed")} passed, ${sum("failed")} failed, ${sum("skipped")} skipped`);
process.exit(sum("failed") > 0 ? 1 : 0);
