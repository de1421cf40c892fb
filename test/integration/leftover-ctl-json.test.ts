// `trunkline ctl --json`: whatever happens, stdout holds exactly one JSON document, and a
// failure is `{"error": {"code", "message"}}` with a non-zero exit: the API's own errors as
// they came, and ctl's (bad usage, an admin API out of reach, an answer that is not the
// API's, a token no HTTP header can carry) in the same shape. The old code wrote those to
// stderr only (stdout empty) or died with a stack trace.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, test } from "node:test";
import { refusedPort } from "../helpers/blackhole.ts";
import { startCli } from "../helpers/cli.ts";
import { startProxy } from "../helpers/proxy.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** A spawn through tsx may take long on a loaded machine; a hung ctl fails the test. */
const CLI_MS = 30_000;

interface Run {
  readonly args: string[];
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function ctl(...args: string[]): Promise<Run> {
  const r = startCli(["ctl", ...args]);
  cleanup.push(() => r.kill());
  const code = await r.closed(CLI_MS);
  return { args, code, stdout: r.stdout(), stderr: r.stderr() };
}

/** Runs of ctl, three at a time: each is a Node process through tsx, on a machine shared with other test files. */
async function inThrees(runs: readonly string[][]): Promise<Run[]> {
  const out: Run[] = [];
  for (let i = 0; i < runs.length; i += 3)
    out.push(...(await Promise.all(runs.slice(i, i + 3).map((a) => ctl(...a)))));
  return out;
}

/** stdout is one line holding one JSON document: that document. */
function oneDocument(r: Run): Record<string, unknown> {
  const what = `ctl ${r.args.join(" ")}: stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`;
  assert.ok(r.stdout.endsWith("\n") && r.stdout.indexOf("\n") === r.stdout.length - 1, `one line: ${what}`);
  let doc: unknown;
  assert.doesNotThrow(() => {
    doc = JSON.parse(r.stdout);
  }, what);
  assert.ok(doc !== null && typeof doc === "object" && !Array.isArray(doc), what);
  return doc as Record<string, unknown>;
}

/** `{"error": {"code": code, "message": <text>}}` on stdout, and the exit code. */
function failed(r: Run, code: string, exit: number): string {
  const doc = oneDocument(r);
  const e = doc.error as { code?: unknown; message?: unknown } | undefined;
  assert.equal(e?.code, code, JSON.stringify(doc));
  assert.equal(typeof e?.message, "string", JSON.stringify(doc));
  assert.equal(r.code, exit, `exit code of ctl ${r.args.join(" ")}`);
  return e?.message as string;
}

/** An HTTP server that is not the admin API: the first path segment picks its answer. */
async function notTheApi(): Promise<string> {
  const srv = createServer((req, res) => {
    const kind = (req.url ?? "/").split("/")[1];
    if (kind === "empty") res.writeHead(204).end();
    else if (kind === "html") res.writeHead(200, { "content-type": "text/html" }).end("<h1>hello</h1>\n");
    else if (kind === "gateway")
      res.writeHead(502, { "content-type": "application/json" }).end('{"message": "bad gateway"}\n');
    else res.writeHead(404).end("nothing here\n");
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
  return `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
}

test("ctl --json: every failure of ctl's own is one {error} document on stdout, with the exit code of its kind", async () => {
  const other = await notTheApi();
  const refused = await refusedPort();
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0, token_file: admin.token }
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:1 } ] } }
`,
    { files: { "admin.token": "a-token-of-32-characters-0123456\n" } },
  );
  cleanup.push(p.close);
  const admin = `http://127.0.0.1:${p.proxy.adminAddress?.port}`;
  // A token with a character outside Latin-1: node:http throws rather than send it.
  const euroToken = join(p.dir, "euro.token");
  writeFileSync(euroToken, "a-token-of-32-characters-012345\u20ac\n");

  const [unknown, badOption, noCommand, badLimit, unreachable, empty, html, gateway, token] = await inThrees([
    ["--admin", admin, "--json", "bogus"],
    ["--admin", admin, "--nope", "--json", "status"],
    ["--json", "--admin", admin],
    ["--admin", admin, "--json", "sessions", "--limit", "many"],
    ["--admin", `http://127.0.0.1:${refused}`, "--json", "status"],
    ["--admin", `${other}/empty/`, "--json", "status"],
    ["--admin", `${other}/html/`, "--json", "pools"],
    ["--admin", `${other}/gateway/`, "--json", "status"],
    ["--admin", admin, "--token-file", euroToken, "--json", "drain", "main", "127.0.0.1:1"],
  ]);
  assert.ok(
    unknown && badOption && noCommand && badLimit && unreachable && empty && html && gateway && token,
  );

  assert.match(failed(unknown, "E_USAGE", 2), /unknown command "bogus"/);
  assert.match(failed(badOption, "E_USAGE", 2), /unknown option --nope/);
  assert.match(failed(noCommand, "E_USAGE", 2), /give a command/);
  assert.match(failed(badLimit, "E_USAGE", 2), /--limit wants a number/);
  assert.match(failed(unreachable, "E_CTL_UNREACHABLE", 3), /cannot reach the admin API at .*ECONNREFUSED/);
  assert.match(failed(empty, "E_CTL_BAD_ANSWER", 1), /answered HTTP 204 without JSON/);
  assert.match(failed(html, "E_CTL_BAD_ANSWER", 1), /answered HTTP 200 without JSON/);
  assert.match(
    failed(gateway, "E_CTL_BAD_ANSWER", 1),
    /answered HTTP 502 with a document that is not the API's error/,
  );
  assert.match(failed(token, "E_USAGE", 2), /holds a character an HTTP header cannot carry/);
  assert.doesNotMatch(token.stderr, /TypeError|at /, "no stack trace");
  // Humans still read why on stderr, without the usage text a script does not need.
  for (const r of [unknown, unreachable, empty, gateway, token]) {
    assert.match(r.stderr, /^trunkline ctl: /, r.args.join(" "));
    assert.doesNotMatch(r.stderr, /usage:/, r.args.join(" "));
  }
});

test("ctl --json: the API's answers, errors included, are the one document as the API gave it", async () => {
  const p = await startProxy(
    `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
admin: { listen: 127.0.0.1:0, token_file: admin.token }
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:1 } ] } }
`,
    { files: { "admin.token": "a-token-of-32-characters-0123456\n" } },
  );
  cleanup.push(p.close);
  const admin = `http://127.0.0.1:${p.proxy.adminAddress?.port}`;
  const [status, noPool, noToken] = await Promise.all([
    ctl("--admin", admin, "--json", "status"),
    ctl("--admin", admin, "--json", "pools", "nope"),
    ctl("--admin", admin, "--json", "drain", "main", "127.0.0.1:1"),
  ]);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(oneDocument(status).pid, process.pid);
  assert.match(failed(noPool, "E_ADMIN_NOT_FOUND", 1), /no pool named "nope"/);
  assert.match(failed(noToken, "E_ADMIN_UNAUTHORIZED", 1), /Authorization: Bearer/);
});
