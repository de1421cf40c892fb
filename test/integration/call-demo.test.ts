/**
 * `trunkline call` and the demo FastAGI server: the CLI run as a real process against the
 * demo, a refused port and a server answering FAILURE; the demo against the simulated Asterisk.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { main as callMain } from "../../src/cli/call.ts";
import { buildAsteriskHeader } from "../../src/protocols/fastagi/asterisk-header.ts";
import { startDemoServer } from "../../src/protocols/fastagi/demo-server.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { freePort, startAgiServer } from "../helpers/upstreams.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a CLI entry point under tsx, killed if it outlives `timeoutMs`. */
function runCli(entry: string, args: string[], timeoutMs = 10_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const call = (args: string[]) => runCli("src/cli/call-entry.ts", args);

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

describe("trunkline call", () => {
  it("runs a whole session against the demo server and ends with HANGUP (exit 0)", async (t) => {
    const demo = await startDemoServer({ host: "127.0.0.1", port: 0 });
    t.after(() => demo.close());
    const url = `agi://127.0.0.1:${demo.port}/demo`;
    const r = await call([url]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    const dialog = lines.filter((l) => l.startsWith("<< ") || l.startsWith(">> "));
    assert.deepEqual(dialog, [
      `<< VERBOSE "Trunkline demo: ${url}" 1`,
      ">> 200 result=0",
      "<< SET VARIABLE TRUNKLINE_DEMO ok",
      ">> 200 result=0",
      "<< GET VARIABLE CALLERID(num)",
      ">> 200 result=0",
      '<< STREAM FILE demo-congrats ""',
      ">> 200 result=0",
      ">> HANGUP",
    ]);
    assert.match(r.stdout, /AGISTATUS=SUCCESS/);
  });

  it("connection refused: a message and exit 1", async () => {
    const port = await freePort();
    const r = await call([`agi://127.0.0.1:${port}/x`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /connection refused; AGISTATUS=FAILURE/);
  });

  it("a FAILURE line from the server: exit 1, after HANGUP as Asterisk sends it", async (t) => {
    const srv = await startAgiServer({ commands: ["NOOP", "FAILURE"] });
    t.after(() => srv.close());
    const r = await call([`agi://127.0.0.1:${srv.port}/f`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /<< NOOP\n>> 200 result=0\n<< FAILURE\n>> HANGUP\n/);
    assert.match(r.stderr, /AGISTATUS=FAILURE/);
    await srv.waitIdle();
    assert.deepEqual(srv.stats.repliesSeen[0], ["200 result=0", "HANGUP"]);
  });

  it("sends the Asterisk header with --header overrides, byte for byte", async (t) => {
    const srv = await startAgiServer({ commands: [] });
    t.after(() => srv.close());
    const url = `agi://127.0.0.1:${srv.port}/ivr/menu?lang=fr`;
    const { io } = capture();
    const code = await callMain(
      [url, "--header", "agi_calleridname=Zoë 電話", "-H", "agi_callerid=4930123"],
      io,
    );
    assert.equal(code, 0);
    assert.deepEqual(
      srv.stats.headers[0],
      buildAsteriskHeader({ url, vars: { agi_calleridname: "Zoë 電話", agi_callerid: "4930123" } }),
    );
  });

  it("gives up after --timeout on a server that never closes (exit 1)", async (t) => {
    const srv = await startAgiServer({ commands: ["NOOP"], neverClose: true });
    t.after(() => srv.close());
    const c = capture();
    const started = Date.now();
    const code = await callMain([`agi://127.0.0.1:${srv.port}/stuck`, "--timeout", "300ms"], c.io);
    assert.equal(code, 1);
    assert.ok(Date.now() - started < 2000);
    assert.deepEqual(c.out.slice(1), ["<< NOOP", ">> 200 result=0"]);
    assert.match(c.err.join("\n"), /no end of session within 300 ms/);
  });

  it("bad usage exits 2 with the usage line", async () => {
    for (const args of [
      [],
      ["http://x/"],
      ["agi://h:99999/x"],
      ["agi://h/x", "--header", "novalue"],
      ["agi://h/x", "--timeout", "soon"],
    ]) {
      const c = capture();
      assert.equal(await callMain(args, c.io), 2, args.join(" "));
      assert.match(c.err.join("\n"), /usage: trunkline call/);
    }
  });
});

describe("demo FastAGI server", () => {
  it("runs its script against the simulated Asterisk, answering a 520 block", async (t) => {
    const demo = await startDemoServer({ host: "127.0.0.1", port: 0 });
    t.after(() => demo.close());
    const block = [
      "520-Invalid command syntax.  Proper usage follows:",
      "Usage: GET VARIABLE <name>",
      "520 End of proper usage.",
    ];
    const r = await agiCall({
      port: demo.port,
      url: 'agi://pbx/demo?x="q"',
      reply: (c) => (c.startsWith("GET VARIABLE") ? block : "200 result=1"),
      fragment: { size: 100, delayMs: 1 },
    });
    assert.equal(r.status, "SUCCESS");
    assert.equal(r.closedBy, "server");
    assert.deepEqual(r.commands, [
      'VERBOSE "Trunkline demo: agi://pbx/demo?x=q" 1',
      "SET VARIABLE TRUNKLINE_DEMO ok",
      "GET VARIABLE CALLERID(num)",
      'STREAM FILE demo-congrats ""',
    ]);
  });

  it("stops its script when Asterisk hangs up, and survives bad peers", async (t) => {
    const demo = await startDemoServer({ host: "127.0.0.1", port: 0 });
    t.after(() => demo.close());
    const early = await agiCall({ port: demo.port, earlyHangup: true });
    assert.equal(early.commands.length, 1);
    const junk = await agiCall({
      port: demo.port,
      header: Buffer.from("\x00\x01binary junk\n\n"),
      timeoutMs: 2000,
    });
    assert.deepEqual(junk.commands, []);
    assert.equal(junk.closedBy, "server");
    const ok = await agiCall({ port: demo.port });
    assert.equal(ok.commands.length, 4);
  });

  it("`trunkline demo` listens until SIGTERM, then exits 0", async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "demo", "--listen", `127.0.0.1:${port}`],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    try {
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString("utf8");
          if (out.includes("listening")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`demo exited early (${code})`)));
      });
      const r = await agiCall({ port, url: `agi://127.0.0.1:${port}/hello` });
      assert.equal(r.commands.length, 4);
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
      assert.match(out, /"msg":"demo session"/);
    } finally {
      clearTimeout(killer);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
