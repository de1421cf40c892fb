import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, parseMerged } from "../../src/config/load.ts";
import { nativeOverlay } from "../../src/config/providers/etcd/native.ts";
import { PROTOCOLS } from "../../src/protocols/registry.ts";

const FILE = `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:4573 } ]
routes: [ { name: fileroute, listener: agi, match: { path: ^/file }, pool: filepool } ]
pools:
  filepool: { servers: [ { address: 10.0.0.1 } ] }
config:
  etcd: { endpoints: [ http://127.0.0.1:2379 ] }
`;

const P = "/trunkline/";
const merge = (kvs: Record<string, unknown>, file = FILE) =>
  parseMerged(
    file,
    "/etc/trunkline.yaml",
    PROTOCOLS,
    nativeOverlay(
      new Map(Object.entries(kvs).map(([k, v]) => [P + k, typeof v === "string" ? v : JSON.stringify(v)])),
      P,
    ),
  );

test("etcd routes follow the file's, in key order; etcd pools join the file's; a route is named after its key", () => {
  const r = merge({
    "routes/zz": { listener: "agi", pool: "etcdpool" },
    "routes/aa": "listener: agi\nmatch: { path: ^/aa }\npool: filepool\n",
    "routes/mm": { name: "explicit", listener: "agi", match: { path: "^/mm" }, pool: "filepool" },
    "pools/etcdpool": { balance: "round-robin", servers: [{ address: "10.0.0.2" }] },
  });
  assert.deepEqual(r.rejected, []);
  assert.deepEqual(
    r.snapshot.routes.map((x) => x.name),
    ["fileroute", "aa", "explicit", "zz"],
  );
  assert.deepEqual([...r.snapshot.pools.keys()].sort(), ["etcdpool", "filepool"]);
  assert.equal(r.snapshot.pools.get("etcdpool")?.balance, "round-robin");
});

test("each invalid key is rejected with its key, path and reason; the rest applies", () => {
  const r = merge({
    "routes/ok": { listener: "agi", pool: "filepool" },
    "routes/notyaml": "listener: [",
    "routes/scalar": "42",
    "routes/unknownkey": { listener: "agi", pool: "filepool", colour: "red" },
    "routes/nolistener": { listener: "nope", pool: "filepool" },
    "routes/sub/dir": { listener: "agi", pool: "filepool" },
    "routes/fileroute-dup": { name: "fileroute", listener: "agi", pool: "filepool" },
    "pools/filepool": { servers: [{ address: "10.0.0.3" }] },
    "pools/noservers": { servers: [] },
    "pools/bad name": { servers: [{ address: "10.0.0.3" }] },
  });
  assert.deepEqual(
    r.snapshot.routes.map((x) => x.name),
    ["fileroute", "ok"],
  );
  const byKey = new Map(r.rejected.map((x) => [x.key.slice(P.length), x.reason]));
  assert.equal(byKey.size, 9, JSON.stringify(r.rejected, null, 1));
  assert.match(byKey.get("routes/notyaml")!, /^etcd:\/trunkline\/routes\/notyaml \(root\): not YAML or JSON/);
  assert.match(byKey.get("routes/scalar")!, /\(root\): a route is an object/);
  assert.match(
    byKey.get("routes/unknownkey")!,
    /^etcd:\/trunkline\/routes\/unknownkey \(root\): unknown key "colour"/,
  );
  assert.match(byKey.get("routes/nolistener")!, /listener: no listener named "nope"/);
  assert.match(byKey.get("routes/sub/dir")!, /one level/);
  assert.match(byKey.get("routes/fileroute-dup")!, /name: route "fileroute" is already defined/);
  assert.match(byKey.get("pools/filepool")!, /pool "filepool" is already defined in \/etc\/trunkline.yaml/);
  assert.match(byKey.get("pools/noservers")!, /servers: a pool needs at least one server/);
  assert.match(byKey.get("pools/bad name")!, /use letters, digits/);
});

test("a route naming a rejected pool is rejected in turn, with its own reason", () => {
  const r = merge({
    "pools/broken": { servers: [{ address: "10.0.0.4:99999" }] },
    "routes/uses-broken": { listener: "agi", pool: "broken" },
  });
  assert.deepEqual(
    r.rejected.map((x) => x.key),
    [`${P}pools/broken`, `${P}routes/uses-broken`],
  );
  assert.match(r.rejected[1]!.reason, /pool: no pool named "broken"/);
  assert.deepEqual(
    r.snapshot.routes.map((x) => x.name),
    ["fileroute"],
  );
});

test("a broken file still rejects the whole config, located in the file", () => {
  const broken = FILE.replace("pool: filepool }", "pool: nowhere }");
  assert.throws(
    () => merge({ "routes/ok": { listener: "agi", pool: "filepool" } }, broken),
    (e: unknown) =>
      e instanceof ConfigError &&
      /trunkline.yaml:3:\d+ routes\[0\]\.pool: no pool named "nowhere"/.test(e.message),
  );
});

test("the digest follows etcd's content; routes may all come from etcd, but not without it", () => {
  const a = merge({ "routes/x": { listener: "agi", pool: "filepool" } });
  const same = merge({ "routes/x": { listener: "agi", pool: "filepool" } });
  const b = merge({ "routes/x": { listener: "agi", pool: "filepool", match: { path: "^/b" } } });
  assert.equal(a.snapshot.digest, same.snapshot.digest);
  assert.notEqual(a.snapshot.digest, b.snapshot.digest);
  const noRoutes = FILE.replace(/^routes:.*$/m, "");
  assert.deepEqual(
    merge({ "routes/x": { listener: "agi", pool: "filepool" } }, noRoutes).snapshot.routes.map((x) => x.name),
    ["x"],
  );
  assert.throws(
    () => parseMerged(noRoutes.replace(/config:[\s\S]*$/, ""), "/f.yaml", PROTOCOLS, undefined),
    /routes: define at least one route/,
  );
});
