/**
 * Hostile pid files for `trunkline run --pid-file P [--takeover]`. A takeover sends SIGTERM to
 * the pid the file names: that pid must be a Trunkline of the same pid file, never another
 * program that merely mentions the file, nor another Trunkline. Writing the pid file must
 * not write through a link someone planted. `--takeover` runs on a Node with SO_REUSEPORT
 * (this one, or the suite's Node 24 from the cache); the pid checks that need no takeover
 * run on this Node.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { findPredecessor } from "../../src/app/takeover.ts";
import { alive, takeoverNode, type Watched, watchCli } from "../helpers/config-attack.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const dir = mkdtempSync(join(tmpdir(), "trunkline-cfgatk-pid-"));
const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function config(name: string, upstream: number): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    "listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]\n" +
      "routes: [ { listener: agi, pool: main } ]\n" +
      `pools: { main: { servers: [ { address: 127.0.0.1:${upstream} } ] } }\n`,
  );
  return file;
}

function run(args: string[], node?: string): Watched {
  const w = watchCli(["run", "--no-watch", ...args], { rssCapMb: 400, ...(node ? { node } : {}) });
  cleanup.push(() => w.kill());
  return w;
}

/** A bystander process; killed by pid at the end. Resolves with the signal that ended it, if any. */
function bystander(cmd: string, args: string[]): { child: ChildProcess; signal: () => string | null } {
  const child = spawn(cmd, args, { stdio: "ignore" });
  let sig: string | null = null;
  child.on("exit", (_code, s) => {
    sig = s;
  });
  cleanup.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, signal: () => sig };
}

const started = (l: Record<string, unknown>) => l.msg === "trunkline started";
/**
 * A proxy's start from source, tsx compiling it on the way: 15 s ran out once in a CI run
 * with two CPU hogs (the taker, on Node 24, had not started 15 s after it was run), where the
 * same run's pass on Node 24 took 13 s for the whole test.
 */
const STARTUP_MS = 30_000;
const NODE = takeoverNode();

/**
 * Runs `run --takeover` against PIDFILE (on a Node that can), waits for it to start and
 * 1 s more; without such a Node, asks findPredecessor what the takeover would signal.
 */
async function takeover(pidFile: string, upstream: number, name: string): Promise<string> {
  if (NODE === undefined) {
    const p = findPredecessor(pidFile);
    return p.kind === "running" ? `would signal pid ${p.pid}` : p.reason;
  }
  const t = run(["-c", config(name, upstream), "--pid-file", pidFile, "--takeover"], NODE);
  await t.waitFor(started, STARTUP_MS);
  await new Promise((r) => setTimeout(r, 1_000));
  const said = t.stderr() + JSON.stringify(t.lines.filter((l) => l.event === "takeover"));
  t.child.kill("SIGTERM");
  await t.exited(10_000);
  return said;
}

// Passes: a pid reused by an unrelated process (sleep) is not signalled; existing tests only use a pid that is not running.
test("--takeover with a pid file naming an unrelated live process (sleep 60): it is not signalled", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const sleeper = bystander("sleep", ["60"]);
  const pidFile = join(dir, "sleep.pid");
  writeFileSync(pidFile, `${sleeper.child.pid}\n`);
  const said = await takeover(pidFile, up.port, "sleep");
  assert.ok(alive(sleeper.child.pid!), `sleep was killed (${sleeper.signal()}); the proxy said: ${said}`);
  assert.match(said, /another program/);
});

// A defect found by attacking the proxy, fixed: takeover.ts findPredecessor accepts any process with an argument containing the pid file's basename: an operator's `tail -f /run/.../trunkline.pid` gets SIGTERM.
test("--takeover with a pid file naming `tail -f <that pid file>`: the tail is not a Trunkline and is not signalled", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const pidFile = join(dir, "tailed.pid");
  writeFileSync(pidFile, "0\n");
  const tail = bystander("tail", ["-f", pidFile]);
  writeFileSync(pidFile, `${tail.child.pid}\n`);
  await new Promise((r) => setTimeout(r, 200));
  const said = await takeover(pidFile, up.port, "tailed");
  assert.ok(alive(tail.child.pid!), `tail -f was killed (${tail.signal()}); the proxy said: ${said}`);
});

// A defect found by attacking the proxy, fixed: findPredecessor matches only the pid file's basename in any argument: a Trunkline of another config whose pid file has the same name in another folder is SIGTERMed (it drains and exits).
test("--takeover with a pid file naming another Trunkline (other config, same pid-file name in another folder): that proxy is not signalled", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const otherDir = join(dir, "other");
  const ourDir = join(dir, "ours");
  mkdirSync(otherDir);
  mkdirSync(ourDir);
  const other = run(["-c", config("other", up.port), "--pid-file", join(otherDir, "trunkline.pid")]);
  await other.waitFor(started, STARTUP_MS);
  const pidFile = join(ourDir, "trunkline.pid");
  writeFileSync(pidFile, `${other.pid}\n`);
  const said = await takeover(pidFile, up.port, "ours");
  assert.ok(alive(other.pid), `the other proxy exited; the taker said: ${said}`);
  assert.equal(
    other.lines.find((l) => l.event === "shutdown"),
    undefined,
    `the other proxy was told to stop; the taker said: ${said}`,
  );
});

// Passes: pid file contents that are not one positive pid; pid 1 asked of findPredecessor only (never signalled here).
test("--takeover with a pid file holding garbage, a negative pid, 0, a huge number or control bytes: one line, a normal start; pid 1 is never a predecessor", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const pidFile = join(dir, "odd.pid");
  for (const content of [
    "1\n",
    `${process.pid}x\n`,
    "-1\n",
    "0\n",
    "99999999999999999999\n",
    "12\u001b[2J\n",
  ]) {
    writeFileSync(pidFile, content);
    const p = findPredecessor(pidFile);
    assert.notEqual(p.kind, "running", `${JSON.stringify(content)}: ${JSON.stringify(p)}`);
  }
  if (NODE === undefined) return;
  for (const content of ["garbage\n", "-1\n", "0\n"]) {
    writeFileSync(pidFile, content);
    const t = run(["-c", config("odd", up.port), "--pid-file", pidFile, "--takeover"], NODE);
    await t.waitFor(started, STARTUP_MS);
    assert.match(
      t.stderr(),
      /holds no pid.*starting without one/,
      `${JSON.stringify(content)}: ${t.stderr()}`,
    );
    assert.equal(readFileSync(pidFile, "utf8"), `${t.pid}\n`);
    t.child.kill("SIGTERM");
    assert.equal(await t.exited(10_000), 0);
  }
});

// Passes: a pid file that is a symlink is replaced by the rename, its target left alone.
test("--pid-file that is a symlink to another file: the link is replaced, the file it pointed to is untouched", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const victim = join(dir, "victim-a.txt");
  writeFileSync(victim, "precious\n");
  const pidFile = join(dir, "linked.pid");
  symlinkSync(victim, pidFile);
  const p = run(["-c", config("linked", up.port), "--pid-file", pidFile]);
  await p.waitFor(started, STARTUP_MS);
  assert.equal(readFileSync(victim, "utf8"), "precious\n");
  assert.equal(lstatSync(pidFile).isSymbolicLink(), false);
  assert.equal(readFileSync(pidFile, "utf8"), `${p.pid}\n`);
  p.child.kill("SIGTERM");
  assert.equal(await p.exited(10_000), 0);
});

// A defect found by attacking the proxy, fixed: pid-file.ts writePidFile writes its temp file `.NAME.PID.tmp` with a plain writeFileSync, which follows a symlink planted at that predictable name and overwrites its target (no O_EXCL/O_NOFOLLOW).
test("--pid-file: a symlink planted at the pid file's temp name is not written through", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const victim = join(dir, "victim-b.txt");
  writeFileSync(victim, "precious\n");
  const pidFile = join(dir, "planted.pid");
  const p = run(["-c", config("planted", up.port), "--pid-file", pidFile]);
  // The temp name is `.planted.pid.<pid>.tmp`: known as soon as the process exists, long before it listens.
  symlinkSync(victim, join(dir, `.planted.pid.${p.pid}.tmp`));
  await p.waitFor(started, STARTUP_MS);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(readFileSync(victim, "utf8"), "precious\n", "the planted link's target was overwritten");
  p.child.kill("SIGTERM");
  await p.exited(10_000);
});
