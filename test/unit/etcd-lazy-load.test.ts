import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { ROOT } from "../helpers/cli.ts";

// A fresh process imports what `trunkline run` imports, then makes an etcd client; it reports
// whether etcd3 was loaded after each step.
const SCRIPT = `
import { createRequire } from "node:module";
const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes("/node_modules/etcd3/"));
await import("./src/cli/run.ts");
await import("./src/app/proxy.ts");
await import("./src/config/providers/etcd/provider.ts");
const before = loaded();
const { createEtcdClient } = await import("./src/config/providers/etcd/client.ts");
const client = createEtcdClient({ endpoints: ["http://127.0.0.1:9"] }, "/");
const after = loaded();
client.close();
console.log(JSON.stringify({ before, after }));
`;

test("etcd3 is loaded by the first etcd client, not by starting a proxy", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", SCRIPT], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  assert.deepEqual(JSON.parse(last), { before: false, after: true });
});
