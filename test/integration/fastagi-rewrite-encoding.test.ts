import assert from "node:assert/strict";
import { after, test } from "node:test";
import { main as routeCli } from "../../src/cli/route.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy, type TestProxy } from "../helpers/proxy.ts";
import { type AgiServer, startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

let started: { up: AgiServer; p: TestProxy } | undefined;

/** One proxy with the rewrite from the defect report, in front of one scripted server. */
async function proxy(): Promise<{ up: AgiServer; p: TestProxy }> {
  if (started) return started;
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes:
  - listener: agi
    match: { path: "^/ivr/(?<app>[^/]+)$" }
    rewrite: "/apps/$<app>?name=\${agi_calleridname}&cid=\${agi_callerid}"
    pool: main
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`);
  cleanup.push(p.close);
  started = { up, p };
  return started;
}

/** The agi_network_script and agi_request lines of the i-th header the server received. */
function urlLines(up: AgiServer, i: number): string[] {
  const header = up.stats.headers[i];
  assert.ok(header, `the server received header ${i}`);
  return header
    .toString("utf8")
    .split("\n")
    .filter((l) => l.startsWith("agi_network_script: ") || l.startsWith("agi_request: "));
}

/** Runs `trunkline route ARGS` in this process and returns its exit code and stdout. */
async function route(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = "";
  const write = process.stdout.write;
  // Only the CLI's text lines are taken; anything else (the test runner's own reports) passes on.
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === "string") {
      stdout += chunk;
      return true;
    }
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    return { code: await routeCli(args), stdout };
  } finally {
    process.stdout.write = write;
  }
}

test("a caller name with & and = adds no parameter upstream, and + reaches the server as %2B", async () => {
  const { up, p } = await proxy();
  const url = `agi://127.0.0.1:${p.port()}/ivr/menu`;
  const before = up.stats.headers.length;
  const r = await agiCall({
    port: p.port(),
    url,
    vars: { agi_calleridname: "Bob&admin=1", agi_callerid: "+4930123" },
  });
  assert.equal(r.status, "SUCCESS");
  const query = "name=Bob%26admin%3D1&cid=%2B4930123";
  assert.deepEqual(urlLines(up, before), [
    `agi_network_script: apps/menu?${query}`,
    `agi_request: agi://127.0.0.1:${p.port()}/apps/menu?${query}`,
  ]);
  assert.deepEqual(
    [...new URLSearchParams(query)],
    [
      ["name", "Bob&admin=1"],
      ["cid", "+4930123"],
    ],
  );

  // `trunkline route` shows the very request the server got.
  const cli = await route([
    "-c",
    p.file,
    url,
    "--header",
    "agi_calleridname=Bob&admin=1",
    "--header",
    "agi_callerid=+4930123",
  ]);
  assert.equal(cli.code, 0, cli.stdout);
  const shown = cli.stdout.split("\n");
  assert.ok(
    shown.includes(`request:  agi_request: agi://127.0.0.1:${p.port()}/apps/menu?${query}   (rewritten)`),
    cli.stdout,
  );
  assert.ok(shown.includes(`          agi_network_script: apps/menu?${query}`), cli.stdout);
});

test("a UTF-8 caller name and a % are encoded once; a %20 in the path stays %20", async () => {
  const { up, p } = await proxy();
  const before = up.stats.headers.length;
  const r = await agiCall({
    port: p.port(),
    url: `agi://127.0.0.1:${p.port()}/ivr/main%20menu`,
    vars: { agi_calleridname: "Zoë", agi_callerid: "100%" },
  });
  assert.equal(r.status, "SUCCESS");
  const query = "name=Zo%C3%AB&cid=100%25";
  assert.deepEqual(urlLines(up, before), [
    `agi_network_script: apps/main%20menu?${query}`,
    `agi_request: agi://127.0.0.1:${p.port()}/apps/main%20menu?${query}`,
  ]);
  assert.deepEqual(
    [...new URLSearchParams(query)],
    [
      ["name", "Zoë"],
      ["cid", "100%"],
    ],
  );
});
