// Trunkline is deployed with V8's young generation doubled (`--max-semi-space-size=32`, README
// "Running under systemd"): `npm start` and the systemd units in contrib/ pass the flag, and
// the proxy says in its start line which Node and flags it runs with. The benchmarks read the
// flags from `npm start` (bench/lib/shipped.ts) to run Trunkline as deployed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { shippedNodeFlags, startFlags } from "../../bench/lib/shipped.ts";
import { freePort } from "../helpers/ports.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "dist/cli/main.js");
const dir = mkdtempSync(join(tmpdir(), "trunkline-flags-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the start script's Node flags are read as the benchmarks pass them; any other script gives none", () => {
  assert.deepEqual(startFlags("node --max-semi-space-size=32 dist/cli/main.js run -c x.yaml"), [
    "--max-semi-space-size=32",
  ]);
  assert.deepEqual(startFlags("node  --a --b=1 dist/cli/main.js"), ["--a", "--b=1"]);
  assert.deepEqual(startFlags("node dist/cli/main.js run -c x.yaml"), []);
  assert.deepEqual(startFlags("node --a; rm -rf / dist/cli/main.js"), []);
  assert.deepEqual(startFlags("tsx src/cli/main.ts"), []);
  assert.deepEqual(shippedNodeFlags(join(dir, "a", "b", "main.js")), [], "no package.json there");
});

test("npm start and the systemd units carry the same Node flags; the bin's shebang stays plain", () => {
  const flags = shippedNodeFlags(BIN);
  assert.deepEqual(flags, ["--max-semi-space-size=32"]);
  for (const unit of ["trunkline.service", "trunkline@.service"]) {
    const exec = /^ExecStart=(.*)$/m.exec(readFileSync(join(ROOT, "contrib", unit), "utf8"))?.[1] ?? "";
    assert.ok(
      exec.startsWith(`/usr/bin/node ${flags.join(" ")} /opt/trunkline/dist/cli/main.js run `),
      `${unit}: ${exec}`,
    );
  }
  // `env -S` (what a shebang needs to pass a flag) is not POSIX: npx trunkline must run anywhere.
  assert.equal(readFileSync(join(ROOT, "src/cli/main.ts"), "utf8").split("\n", 1)[0], "#!/usr/bin/env node");
});

test("started as npm start and the units start it, the proxy runs with the flags and says so", async () => {
  const port = await freePort();
  const cfg = join(dir, "t.yaml");
  writeFileSync(
    cfg,
    `listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:${port} } ]
routes: [ { listener: agi, pool: p } ]
pools: { p: { servers: [ { address: 127.0.0.1:9 } ] } }
`,
  );
  const child = spawn(process.execPath, [...shippedNodeFlags(BIN), BIN, "run", "-c", cfg, "--no-watch"], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start line within 20 s:\n${out}\n${err}`)), 20_000);
      child.stdout.on("data", (d) => {
        out += d;
        for (const line of out.split("\n")) {
          if (!line.includes('"trunkline started"')) continue;
          clearTimeout(timer);
          resolve(JSON.parse(line) as Record<string, unknown>);
          return;
        }
      });
      child.on("exit", (code) => reject(new Error(`exited ${code} before starting:\n${out}\n${err}`)));
    });
    assert.equal(started.node_flags, "--max-semi-space-size=32");
    assert.match(String(started.node), /^v\d+\.\d+\.\d+$/);
  } finally {
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
  }
});
