import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readPidFile, removePidFileIfOurs, writePidFile } from "../../src/app/pid-file.ts";
import {
  findPredecessor,
  migrateReqWarning,
  type ProcessProbe,
  stopPredecessor,
  takeoverRefusal,
} from "../../src/app/takeover.ts";

const dir = mkdtempSync(join(tmpdir(), "trunkline-takeover-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A system with one process table: pid → argv (undefined argv: not readable); signals recorded. */
function probe(
  table: Record<number, string[] | undefined>,
  denied: number[] = [],
): ProcessProbe & { sent: number[] } {
  const sent: number[] = [];
  return {
    sent,
    state: (pid) => (denied.includes(pid) ? "not-permitted" : pid in table ? "alive" : "gone"),
    argv: (pid) => table[pid],
    signal: (pid) => {
      if (!(pid in table)) throw Object.assign(new Error("kill ESRCH"), { code: "ESRCH" });
      sent.push(pid);
    },
  };
}

test("pid file: written whole (temp file and rename, nothing left beside), read back, removed only while ours", () => {
  const f = join(dir, "a.pid");
  writePidFile(f, 4242);
  assert.equal(readFileSync(f, "utf8"), "4242\n");
  assert.deepEqual(readdirSync(dir), ["a.pid"]);
  assert.deepEqual(readPidFile(f), { kind: "pid", pid: 4242 });
  writePidFile(f, 5151); // a successor's
  assert.equal(removePidFileIfOurs(f, 4242), false);
  assert.deepEqual(readPidFile(f), { kind: "pid", pid: 5151 });
  assert.equal(removePidFileIfOurs(f, 5151), true);
  assert.deepEqual(readPidFile(f), { kind: "missing" });
  assert.equal(removePidFileIfOurs(f, 5151), false);
});

test("pid file: anything but one positive integer is no pid", () => {
  const f = join(dir, "b.pid");
  for (const text of ["", "abc\n", "12 13\n", "-5\n", "0\n", "1e3\n", "99999999999999\n"]) {
    writeFileSync(f, text);
    assert.equal(readPidFile(f).kind, "invalid", JSON.stringify(text));
  }
  writeFileSync(f, "  77 \n");
  assert.deepEqual(readPidFile(f), { kind: "pid", pid: 77 });
});

test("takeover: refused on a Node without reusePort, in one line naming the version", () => {
  assert.equal(
    takeoverRefusal("20.20.2", "linux"),
    "--takeover needs Node >= 22.12 (SO_REUSEPORT); this is Node 20.20.2",
  );
  assert.equal(takeoverRefusal("22.12.0", "linux"), undefined);
  assert.match(takeoverRefusal("24.0.0", "darwin") ?? "", /SO_REUSEPORT.*darwin/);
});

test("takeover: the predecessor is a live process whose command line names the pid file", () => {
  const f = join(dir, "trunkline.pid");
  writePidFile(f, 300);
  const ours = ["node", "main.js", "run", "-c", "t.yaml", "--pid-file", f];
  assert.deepEqual(findPredecessor(f, probe({ 300: ours }), 1), { kind: "running", pid: 300 });
  // Where command lines cannot be read, liveness alone.
  assert.deepEqual(findPredecessor(f, probe({ 300: undefined }), 1), { kind: "running", pid: 300 });
});

test("takeover: a stale pid file (gone, reused by another program, this very process, missing) means none, with the reason", () => {
  const f = join(dir, "stale.pid");
  assert.deepEqual(findPredecessor(f, probe({}), 1), { kind: "none", reason: `no pid file ${f}` });
  writePidFile(f, 300);
  const gone = findPredecessor(f, probe({}), 1);
  assert.equal(gone.kind, "none");
  assert.match(
    gone.kind === "none" ? gone.reason : "",
    /stale pid file .*stale\.pid: pid 300 is not running/,
  );
  const reused = findPredecessor(f, probe({ 300: ["/usr/sbin/sshd", "-D"] }), 1);
  assert.match(
    reused.kind === "none" ? reused.reason : "",
    /pid 300 is another program \(\/usr\/sbin\/sshd -D\)/,
  );
  assert.equal(findPredecessor(f, probe({ 300: [] }), 300).kind, "none");
  writeFileSync(f, "garbage\n");
  assert.match(JSON.stringify(findPredecessor(f, probe({}), 1)), /holds no pid/);
});

test("takeover: a predecessor of another user is refused (it could not be signalled)", () => {
  const f = join(dir, "other.pid");
  writePidFile(f, 300);
  const r = findPredecessor(f, probe({ 300: ["x"] }, [300]), 1);
  assert.equal(r.kind, "refused");
  assert.match(r.kind === "refused" ? r.reason : "", /runs as another user/);
});

test("takeover: SIGTERM only to the pid still in the file and still alive", () => {
  const f = join(dir, "stop.pid");
  writePidFile(f, 300);
  const p = probe({ 300: ["run", "--pid-file", f], 301: ["run", "--pid-file", f] });
  assert.deepEqual(stopPredecessor(f, 300, p), { kind: "signalled", pid: 300 });
  assert.deepEqual(p.sent, [300]);
  writePidFile(f, 301); // another takeover got there first
  assert.match(JSON.stringify(stopPredecessor(f, 300, p)), /now names pid 301, not 300: not signalled/);
  writePidFile(f, 302);
  assert.equal(stopPredecessor(f, 302, p).kind, "gone");
  assert.deepEqual(p.sent, [300]);
});

test("tcp_migrate_req: 0 is a warning saying what is lost and how to turn it on; 1 or no file, nothing", () => {
  const f = join(dir, "tcp_migrate_req");
  writeFileSync(f, "0\n");
  const w = migrateReqWarning(f);
  assert.equal(w?.setting, "net.ipv4.tcp_migrate_req");
  assert.equal(w?.value, "0");
  assert.match(w?.warning ?? "", /resets the connections still queued/);
  assert.match(w?.warning ?? "", /sysctl -w net\.ipv4\.tcp_migrate_req=1/);
  writeFileSync(f, "1\n");
  assert.equal(migrateReqWarning(f), undefined);
  assert.equal(migrateReqWarning(join(dir, "absent")), undefined);
});
