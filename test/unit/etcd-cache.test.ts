import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readCache, writeCache } from "../../src/config/providers/etcd/cache.ts";

const dir = mkdtempSync(join(tmpdir(), "trunkline-cache-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the cache round-trips etcd's content, leaves no temp file, and creates its folder", () => {
  const file = join(dir, "sub", "etcd.json");
  const kvs = new Map([
    ["/trunkline/routes/a", "listener: agi\npool: p\n"],
    ["/domains/x/type", "service"],
  ]);
  writeCache(file, { revision: 42, kvs });
  writeCache(file, { revision: 43, kvs });
  const back = readCache(file);
  assert.equal(back?.revision, 43);
  assert.deepEqual([...(back?.kvs ?? [])], [...kvs]);
  assert.deepEqual(readdirSync(join(dir, "sub")), ["etcd.json"]);
});

test("no cache, or one that is not ours, reads as none (the proxy starts from the file alone)", () => {
  assert.equal(readCache(join(dir, "absent.json")), undefined);
  const bad = join(dir, "bad.json");
  writeFileSync(bad, "{ half a file");
  assert.equal(readCache(bad), undefined);
  writeFileSync(bad, JSON.stringify({ kvs: {} }));
  assert.equal(readCache(bad), undefined);
});

test("an unwritable cache folder throws (the proxy logs it) and leaves nothing behind", () => {
  const blocker = join(dir, "file-not-dir");
  writeFileSync(blocker, "x");
  assert.throws(() => writeCache(join(blocker, "etcd.json"), { revision: 1, kvs: new Map() }));
});
