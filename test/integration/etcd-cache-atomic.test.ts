// The etcd cache file is replaced atomically: a reader looping while another thread rewrites
// it never finds it missing, empty, half written or mixing two revisions once a first cache
// exists. A control run with a plain in-place write shows the same reader does catch torn
// files, so the zero of the real writer means something.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Worker } from "node:worker_threads";
import { readCache, writeCache } from "../../src/config/providers/etcd/cache.ts";

const dir = mkdtempSync(join(tmpdir(), "trunkline-cache-atomic-"));
const workers = new Set<Worker>();
after(async () => {
  for (const w of workers) await w.terminate();
  rmSync(dir, { recursive: true, force: true });
});

/** Keys per cache and bytes per value: ~300 KB a file, so that a write takes a while. */
const KEYS = 600;
const VALUE_BYTES = 500;

/** Every value of revision `rev` starts with `rev:` and is VALUE_BYTES long: a mixed or cut file shows. */
function contentOf(rev: number): Map<string, string> {
  const kvs = new Map<string, string>();
  for (let i = 0; i < KEYS; i++) {
    const head = `${rev}:${i}:`;
    kvs.set(`/atomic/routes/r${String(i).padStart(4, "0")}`, head + "x".repeat(VALUE_BYTES - head.length));
  }
  return kvs;
}

/** One read: the revision of a whole cache, or why it is not one. */
function check(file: string): { revision: number } | { flaw: string } {
  const c = readCache(file);
  if (c === undefined) return { flaw: "no cache (missing, empty or not JSON)" };
  if (c.kvs.size !== KEYS) return { flaw: `${c.kvs.size} keys` };
  const head = `${c.revision}:`;
  for (const v of c.kvs.values())
    if (!v.startsWith(head) || v.length !== VALUE_BYTES) return { flaw: "mixed revisions" };
  return { revision: c.revision };
}

/**
 * A thread rewriting `file` with revision 2, 3, ... until told to stop (flags[0]), counting its
 * writes in flags[1]: through writeCache (atomic) or with a plain writeFileSync in place (naive).
 */
function startWriter(file: string, mode: "atomic" | "naive", flags: Int32Array): Promise<number> {
  const cacheModule = new URL("../../src/config/providers/etcd/cache.ts", import.meta.url).href;
  // The thread loads the TypeScript module through tsx's API (a worker does not inherit the
  // --import loader on Node 20).
  const src = `
const { workerData, parentPort } = require("node:worker_threads");
const { writeFileSync } = require("node:fs");
import("tsx/esm/api").then(async ({ register }) => {
  register();
  const { writeCache } = await import(${JSON.stringify(cacheModule)});
  const { file, mode, flags, keys, valueBytes } = workerData;
  const f = new Int32Array(flags);
  let writes = 0;
  for (let rev = 2; Atomics.load(f, 0) === 0 && rev < 10_000_000; rev++) {
    const kvs = new Map();
    for (let i = 0; i < keys; i++) {
      const head = rev + ":" + i + ":";
      kvs.set("/atomic/routes/r" + String(i).padStart(4, "0"), head + "x".repeat(valueBytes - head.length));
    }
    if (mode === "atomic") writeCache(file, { revision: rev, kvs });
    else writeFileSync(file, JSON.stringify({ revision: rev, written_at: new Date().toISOString(), kvs: Object.fromEntries(kvs) }) + "\\n");
    writes++;
    Atomics.store(f, 1, writes);
  }
  parentPort.postMessage(writes);
});
`;
  const w = new Worker(src, {
    eval: true,
    workerData: { file, mode, flags: flags.buffer, keys: KEYS, valueBytes: VALUE_BYTES },
  });
  workers.add(w);
  return new Promise<number>((resolve, reject) => {
    w.once("message", (n: number) => resolve(n));
    w.once("error", reject);
    w.once("exit", (code) => {
      workers.delete(w);
      if (code !== 0) reject(new Error(`writer exited with ${code}`));
    });
  });
}

/** Waits (bounded) until the writer has written `n` times. */
async function writesReach(flags: Int32Array, n: number, limitMs: number): Promise<void> {
  const end = Date.now() + limitMs;
  for (let i = 0; Atomics.load(flags, 1) < n; i++) {
    if (Date.now() > end || i > 100_000)
      throw new Error(`the writer did not write ${n} times within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Race {
  reads: number;
  writes: number;
  revisions: Set<number>;
  flaws: Map<string, number>;
}

/**
 * Reads `file` in a tight loop on this thread while the writer thread rewrites it, until
 * `done` says so or `limitMs` passed (and at most 2 million reads).
 */
function race(file: string, flags: Int32Array, limitMs: number, done: (r: Race) => boolean): Race {
  const r: Race = { reads: 0, writes: 0, revisions: new Set(), flaws: new Map() };
  const end = Date.now() + limitMs;
  while (Date.now() < end && r.reads < 2_000_000 && !done(r)) {
    r.reads++;
    const c = check(file);
    if ("revision" in c) r.revisions.add(c.revision);
    else r.flaws.set(c.flaw, (r.flaws.get(c.flaw) ?? 0) + 1);
    r.writes = Atomics.load(flags, 1);
  }
  return r;
}

test("a reader looping while writeCache rewrites the file never sees a partial or missing cache", async (t) => {
  const file = join(dir, "atomic", "etcd.json");
  // One cache exists before the race: from here on, a read must always find a whole one.
  writeCache(file, { revision: 1, kvs: contentOf(1) });
  assert.deepEqual(check(file), { revision: 1 });
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const writer = startWriter(file, "atomic", flags);
  await writesReach(flags, 1, 20_000);
  const start = Atomics.load(flags, 1);
  const r = race(file, flags, 15_000, (x) => x.writes - start >= 300 && x.revisions.size >= 50);
  Atomics.store(flags, 0, 1);
  const writes = await writer;
  t.diagnostic(
    `${r.reads} reads during ${r.writes - start} rewrites (${writes} in all); ${r.revisions.size} revisions seen whole; flaws: ${JSON.stringify([...r.flaws])}`,
  );
  assert.deepEqual([...r.flaws], [], "every read found one whole cache");
  // The reads did race the writes: many rewrites happened and the reader saw many revisions.
  assert.ok(r.writes - start >= 300, `${r.writes - start} rewrites during the reads`);
  assert.ok(r.revisions.size >= 50, `${r.revisions.size} distinct revisions read`);
  assert.deepEqual(check(file), { revision: writes + 1 }, "the last write is the one read at the end");
});

test("control: the same reader does catch a file rewritten in place (not atomically)", async (t) => {
  const file = join(dir, "naive", "etcd.json");
  writeCache(file, { revision: 1, kvs: contentOf(1) });
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const writer = startWriter(file, "naive", flags);
  await writesReach(flags, 1, 20_000);
  const r = race(file, flags, 15_000, (x) => x.flaws.size > 0 && x.revisions.size >= 2 && x.writes >= 20);
  Atomics.store(flags, 0, 1);
  await writer;
  t.diagnostic(
    `${r.reads} reads during ${r.writes} in-place rewrites; flaws: ${JSON.stringify([...r.flaws])}`,
  );
  assert.ok(r.flaws.size > 0, "a reader racing an in-place rewrite finds a torn file");
  // and whole ones between the writes: what it catches is the tearing, not a file it cannot read
  assert.ok(r.revisions.size >= 2, `${r.revisions.size} revisions read whole`);
});
