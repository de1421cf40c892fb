/**
 * Hostile config files given to `trunkline check` (the same loader `run` and every reload
 * use): what a file system can hold that is not a config. Each must end in a clear
 * `file:line:col path: message` and exit 1, in bounded time and memory; the watch kills the
 * process past 10 s or 400 MiB of RSS so that a defect costs the test, never the machine.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { boundedCli } from "../helpers/config-attack.ts";

const dir = mkdtempSync(join(tmpdir(), "trunkline-cfgatk-files-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const BASE =
  "listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]\n" +
  "routes: [ { listener: agi, pool: main } ]\n" +
  "pools: { main: { servers: [ { address: 127.0.0.1:9 } ] } }\n";

function file(name: string, content: string | Buffer): string {
  const f = join(dir, name);
  writeFileSync(f, content);
  return f;
}

/** `check` on FILE: bounded at 10 s (a tsx start on a busy machine takes seconds) and 400 MiB. */
async function check(f: string, timeoutMs = 10_000) {
  return boundedCli(["check", "-c", f], { timeoutMs, rssCapMb: 400 });
}

const LOCATED = (f: string) => new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+ `, "m");

// A defect found by attacking the proxy, fixed: a config path that is a FIFO blocks `check` (and `run`, and a reload: readFileSync in the event loop) forever.
test("a config that is a FIFO: check answers within 10 s with a located error instead of waiting forever for a writer", async () => {
  const f = join(dir, "fifo.yaml");
  execFileSync("mkfifo", [f]);
  const r = await check(f);
  assert.notEqual(r.code, "timeout", `check still waiting on the FIFO after ${r.ms} ms`);
  assert.equal(r.code, 1);
  assert.match(r.stdout, LOCATED(f));
});

// A defect found by attacking the proxy, fixed: a TLS file that is /dev/zero is read whole (readFileSync, no size bound, no regular-file check): memory grows without end.
test("a listener TLS cert and key that are /dev/zero: a config error naming tls.cert, in bounded time and memory", async () => {
  const f = file(
    "zero-tls.yaml",
    BASE.replace("listen: 127.0.0.1:0 }", "listen: 127.0.0.1:0, tls: { cert: /dev/zero, key: /dev/zero } }"),
  );
  const r = await check(f);
  assert.equal(r.killedFor, undefined, `RSS passed 400 MiB (peak ${Math.round(r.peakRssMb)} MiB)`);
  assert.notEqual(r.code, "timeout", `no answer within ${r.ms} ms (peak ${Math.round(r.peakRssMb)} MiB)`);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /listeners\[0\]\.tls\.cert/);
});

// A defect found by attacking the proxy, fixed: admin.token_file /dev/urandom is read whole like any config-named file: unbounded memory and time.
test("an admin token_file that is /dev/urandom: a config error naming admin.token_file, in bounded time and memory", async () => {
  const f = file("urandom-token.yaml", `${BASE}admin: { listen: 127.0.0.1:0, token_file: /dev/urandom }\n`);
  const r = await check(f);
  assert.equal(r.killedFor, undefined, `RSS passed 400 MiB (peak ${Math.round(r.peakRssMb)} MiB)`);
  assert.notEqual(r.code, "timeout", `no answer within ${r.ms} ms (peak ${Math.round(r.peakRssMb)} MiB)`);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /admin\.token_file/);
});

// A defect found by attacking the proxy, fixed: a 50 MB config is read and parsed whole before anything looks at it: ~10 s and ~900 MiB before its rejection; a reload of it blocks every session that long.
test("a 50 MB config is refused in bounded time and memory (under 10 s and 400 MiB; unbounded it took ~9.5 s and ~900 MB)", async () => {
  const row = `  - ${"a".repeat(60)}\n`;
  const f = file("big.yaml", `${BASE}x:\n${row.repeat(Math.ceil((50 * 1024 * 1024) / row.length))}`);
  const r = await check(f);
  assert.equal(r.killedFor, undefined, `RSS passed 400 MiB (peak ${Math.round(r.peakRssMb)} MiB)`);
  assert.notEqual(r.code, "timeout", `no answer within ${r.ms} ms (peak ${Math.round(r.peakRssMb)} MiB)`);
  assert.equal(r.code, 1);
  assert.match(r.stdout, LOCATED(f));
});

// A defect found by attacking the proxy, fixed: an alias bomb's rejection has no file:line:col: yaml's toJS throws a plain error outside load.ts's ConfigError path, so `check` prints "FILE: Excessive alias count…".
test("a billion-laughs alias bomb is refused quickly, as file:line:col like every other problem", async () => {
  const rows = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 10; i++)
    rows.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(", ")}]`,
    );
  const f = file("bomb.yaml", `${BASE}${rows.join("\n")}\n`);
  const r = await check(f);
  assert.notEqual(r.code, "timeout");
  assert.equal(r.killedFor, undefined);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /alias/i);
  assert.match(r.stdout, LOCATED(f), `not located: ${r.stdout}`);
});

// Passes: no existing test gives the loader these shapes; each is refused, located, bounded.
test("a directory, a symlink loop, a dangling symlink, 100k nested brackets, deep block nesting, a duplicate key, a NUL byte, invalid UTF-8, a !!js/function tag, an anchor used across documents: each refused, located, in bounded time", async () => {
  const d = join(dir, "adir.yaml");
  mkdirSync(d);
  const loopA = join(dir, "loop-a.yaml");
  const loopB = join(dir, "loop-b.yaml");
  symlinkSync(loopB, loopA);
  symlinkSync(loopA, loopB);
  const dangling = join(dir, "dangling.yaml");
  symlinkSync(join(dir, "nowhere.yaml"), dangling);
  let block = "";
  for (let i = 0; i < 3000; i++) block += `${"  ".repeat(i)}k${i}:\n`;
  const cases: [string, string][] = [
    [d, "directory"],
    [loopA, "symlink loop"],
    [dangling, "dangling symlink"],
    [file("deep.yaml", `x: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`), "100k brackets"],
    [file("deep-block.yaml", block), "deep block"],
    [file("dup.yaml", `${BASE}routes: [ { listener: agi, pool: main } ]\n`), "duplicate key"],
    [file("nul.yaml", Buffer.from(`${BASE}log: { level: "in\0fo" }\n`)), "NUL byte"],
    [
      file(
        "utf8.yaml",
        Buffer.concat([
          Buffer.from(`${BASE}log: { level: "`),
          Buffer.from([0xff, 0xfe]),
          Buffer.from('" }\n'),
        ]),
      ),
      "invalid UTF-8",
    ],
    [file("tag.yaml", `${BASE}shutdown_timeout: !!js/function 'function () { return 1 }'\n`), "js tag"],
    [file("multi.yaml", `${BASE}x: &x 1\n---\ny: *x\n`), "two documents"],
  ];
  for (const [f, what] of cases) {
    // Bounded, not fast: each case starts a CLI through tsx, seconds on a loaded 2-core machine.
    const r = await check(f, 30_000);
    assert.notEqual(r.code, "timeout", `${what}: no answer within ${r.ms} ms`);
    assert.equal(r.killedFor, undefined, `${what}: RSS passed 400 MiB`);
    assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, LOCATED(f), `${what}: not located: ${r.stdout}`);
    assert.equal(r.stderr, "", `${what}: ${r.stderr}`);
  }
});
