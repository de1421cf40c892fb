import assert from "node:assert/strict";
import net from "node:net";
import { after, test } from "node:test";
import { agiCall, defaultHeader, LineReader } from "../helpers/asterisk.ts";
import { startProxy, type TestProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const USAGE = [
  "520-Invalid command syntax.  Proper usage follows:",
  "Usage: BOGUS",
  "520 End of proper usage.",
];

interface Conn {
  sock: net.Socket;
  /** The next line from Asterisk (through the proxy); undefined once it closed or after 3 s. */
  line(): Promise<string | undefined>;
}

/** A FastAGI server run by `script` once the header is in; it never crashes the test. */
async function scriptedServer(script: (c: Conn) => Promise<void>): Promise<{ port: number }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    const reader = new LineReader();
    const queue: string[] = [];
    let inHeader = true;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    sock.on("data", (chunk: Buffer) => {
      for (const l of reader.push(chunk)) {
        if (!inHeader) queue.push(l);
        else if (l === "") {
          inHeader = false;
          void script({ sock, line }).catch(() => sock.destroy());
        }
      }
      notify();
    });
    sock.on("end", () => {
      ended = true;
      notify();
    });
    const line = async (): Promise<string | undefined> => {
      const until = Date.now() + 3000;
      while (queue.length === 0 && !ended && Date.now() < until)
        await new Promise<void>((r) => {
          const t = setTimeout(r, until - Date.now());
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      return queue.shift();
    };
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port };
}

async function proxyTo(port: number): Promise<TestProxy> {
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${port} } ] } }
`);
  cleanup.push(p.close);
  return p;
}

test("completed at info: a server that resets after Asterisk's HANGUP, though its command was unanswered", async () => {
  const up = await scriptedServer(async ({ sock, line }) => {
    sock.write("STREAM FILE long-prompt\n");
    // The caller hung up during the prompt: Asterisk says HANGUP first; this server leaves at once.
    if ((await line()) === "HANGUP") sock.resetAndDestroy();
  });
  const p = await proxyTo(up.port);
  // Asterisk as res_agi.c behaves on a hangup during STREAM FILE: HANGUP now, the reply later.
  const got = await new Promise<string[]>((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port: p.port(), allowHalfOpen: true });
    const lines = new LineReader();
    const seen: string[] = [];
    const timer = setTimeout(() => reject(new Error(`no close; got ${JSON.stringify(seen)}`)), 3000);
    sock.on("connect", () => sock.write(defaultHeader({ url: "agi://x/hangup" })));
    sock.on("data", (d: Buffer) => {
      for (const l of lines.push(d)) {
        seen.push(l);
        if (l.startsWith("STREAM FILE")) sock.write("HANGUP\n");
      }
    });
    sock.on("end", () => sock.end("200 result=-1 endpos=1234\nHANGUP\n"));
    sock.on("error", reject);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(seen);
    });
  });
  assert.deepEqual(got, ["STREAM FILE long-prompt"]);
  const s = await p.session(0);
  assert.equal(s.outcome, "completed", JSON.stringify(s));
  assert.equal(s.level, "info");
  assert.equal(s.error, undefined);
});

test("client_gone at warn: Asterisk leaves mid-session, by FIN or by reset", async () => {
  const up = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 10_000 });
  cleanup.push(up.close);
  const p = await proxyTo(up.port);
  // The simulated Asterisk gives up after 300 ms and closes (FIN) while the server is silent.
  const r = await agiCall({ port: p.port(), url: "agi://x/leave", timeoutMs: 300 });
  assert.equal(r.closedBy, "timeout");
  const s = await p.session(0);
  assert.equal(s.outcome, "client_gone", JSON.stringify(s));
  assert.equal(s.level, "warn");

  const sock = net.connect({ host: "127.0.0.1", port: p.port() });
  sock.on("error", () => {});
  sock.write(defaultHeader({ url: "agi://x/reset" }));
  await until(() => up.stats.sessions === 2, 2000, "second session relayed");
  sock.resetAndDestroy();
  const s2 = await p.session(1);
  assert.equal(s2.outcome, "client_gone", JSON.stringify(s2));
  assert.match(String(s2.error), /^Asterisk: .*ECONNRESET/);
  await until(() => up.stats.active === 0, 2000, "the server saw both closes");
  assert.equal(p.proxy.runtime.generation.pools.get("main")?.servers[0]?.active, 0);
});

test("upstream_gone at warn: the server resets with a command unanswered; a multi-line 520 reply counts once", async () => {
  const up = await scriptedServer(async ({ sock, line }) => {
    sock.write("BOGUS\n");
    for (let l = await line(); l !== undefined && !l.startsWith("520 "); l = await line());
    sock.write("BOGUS\n");
    // Asterisk has begun its reply (the "520-" line); its end comes 40 ms later, too late.
    if ((await line())?.startsWith("520-")) sock.resetAndDestroy();
  });
  const p = await proxyTo(up.port);
  const r = await agiCall({
    port: p.port(),
    url: "agi://x/gone",
    reply: (c) => (c === "BOGUS" ? USAGE : "200 result=0"),
  });
  assert.deepEqual(r.commands, ["BOGUS", "BOGUS"]);
  const s = await p.session(0);
  // Counting the usage lines, or the "520-" line, as replies would make this a "completed".
  assert.equal(s.outcome, "upstream_gone", JSON.stringify(s));
  assert.equal(s.level, "warn");
  assert.match(String(s.error), /^server closed with 1 of 2 commands unanswered \(server: .*ECONNRESET\)$/);
});

test("upstream_gone: the server resets in the middle of a command line, which never reaches Asterisk", async () => {
  const up = await scriptedServer(async ({ sock, line }) => {
    // One write: once NOOP's reply is back, the proxy holds the cut line for sure.
    sock.write("NOOP\nGET VARI");
    if ((await line()) !== undefined) sock.resetAndDestroy();
  });
  const p = await proxyTo(up.port);
  const r = await agiCall({ port: p.port(), url: "agi://x/cut" });
  assert.deepEqual(r.commands, ["NOOP"]);
  assert.equal(r.raw.toString(), "NOOP\n");
  const s = await p.session(0);
  assert.equal(s.outcome, "upstream_gone", JSON.stringify(s));
  assert.match(String(s.error), /^server closed in the middle of a command line \(server: .*ECONNRESET\)$/);
});

test("failure_sent at warn: a server line starting with FAILURE, in any case and however cut, sets AGISTATUS=FAILURE", async () => {
  const up = await startAgiServer({
    commands: ['VERBOSE "FAILURE is only a word here" 1', "Failure: cannot go on"],
    fragmentCommands: { size: 3, delayMs: 2 },
  });
  cleanup.push(up.close);
  const p = await proxyTo(up.port);
  const r = await agiCall({ port: p.port(), url: "agi://x/failure" });
  assert.equal(r.status, "FAILURE");
  const s = await p.session(0);
  assert.equal(s.outcome, "failure_sent", JSON.stringify(s));
  assert.equal(s.level, "warn");

  // The same word elsewhere in a line is no FAILURE.
  const ok = await startAgiServer({ commands: ['VERBOSE "FAILURE is only a word here" 1'] });
  cleanup.push(ok.close);
  const p2 = await proxyTo(ok.port);
  const r2 = await agiCall({ port: p2.port(), url: "agi://x/word" });
  assert.equal(r2.status, "SUCCESS");
  assert.equal((await p2.session(0)).outcome, "completed");
});

test("completed at info: the channel hung up (HANGUP) and then Asterisk closed, as AGIEXITONHANGUP=yes does", async () => {
  const up = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 10_000 });
  cleanup.push(up.close);
  const p = await proxyTo(up.port);
  const sock = net.connect({ host: "127.0.0.1", port: p.port() });
  sock.on("error", () => {});
  sock.write(defaultHeader({ url: "agi://x/exit-on-hangup" }));
  await until(() => up.stats.sessions === 1, 2000, "session relayed");
  sock.end("HANGUP\n");
  const s = await p.session(0);
  assert.equal(s.outcome, "completed", JSON.stringify(s));
  assert.equal(s.level, "info");
});
