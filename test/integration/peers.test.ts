/**
 * The simulated Asterisk straight against each upstream, no proxy in between: proves the
 * test peers speak FastAGI as the reference describes before the proxy is judged by them.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import { agiCall, defaultHeader, setVar } from "../helpers/asterisk.ts";
import { startAgiServer, startDingDong, startPerlAgi } from "../helpers/upstreams.ts";

const CAPTURED = readFileSync(
  new URL("../fixtures/agi/asterisk-23.4.1-originate-query.raw", import.meta.url),
);
const tlsDir = new URL("../fixtures/tls/", import.meta.url);
const pem = (name: string) => readFileSync(new URL(name, tlsDir));

const getVar = (value: string) => (cmd: string) =>
  cmd.startsWith("GET VARIABLE") ? `200 result=1 (${value})` : "200 result=1";

describe("scripted AGI server", () => {
  it("runs its commands, gets the captured header byte for byte and each reply", async (t) => {
    const srv = await startAgiServer();
    t.after(() => srv.close());
    const r = await agiCall({ port: srv.port, header: CAPTURED });
    assert.equal(r.status, "SUCCESS");
    assert.equal(r.closedBy, "server");
    assert.deepEqual(r.commands, ['VERBOSE "hi" 1', "SET VARIABLE FOO bar", "GET VARIABLE FOO"]);
    assert.deepEqual(srv.stats.headers, [CAPTURED]);
    // Asterisk's HANGUP once more after the server closed its side.
    await srv.waitIdle();
    assert.deepEqual(srv.stats.repliesSeen[0], ["200 result=0", "200 result=0", "200 result=0", "HANGUP"]);
    assert.equal(srv.stats.sessions, 1);
  });

  it("rewrites agi_request and agi_network_script of the captured header for a URL", async (t) => {
    const srv = await startAgiServer({ commands: ["NOOP"] });
    t.after(() => srv.close());
    await agiCall({ port: srv.port, url: "agi://127.0.0.1:4573/ivr/menu?lang=fr" });
    const h = srv.stats.headers[0]?.toString("utf8") ?? "";
    assert.match(
      h,
      /^agi_network: yes\nagi_network_script: ivr\/menu\?lang=fr\nagi_request: agi:\/\/127.0.0.1:4573\/ivr\/menu\?lang=fr\nagi_channel: /,
    );
    await agiCall({ port: srv.port, url: "agi://127.0.0.1:4573" });
    assert.doesNotMatch(srv.stats.headers[1]?.toString("utf8") ?? "", /agi_network_script/);
  });

  it("a 520 multi-line reply, its continuation sent late, reaches the server whole", async (t) => {
    const srv = await startAgiServer({ commands: ["BOGUS SYNTAX", "NOOP"] });
    t.after(() => srv.close());
    const block = [
      "520-Invalid command syntax.  Proper usage follows:",
      "Usage: NOOP",
      "520 End of proper usage.",
    ];
    const r = await agiCall({
      port: srv.port,
      reply: (c) => (c === "BOGUS SYNTAX" ? block : "200 result=0"),
    });
    assert.equal(r.status, "SUCCESS");
    // The server only sends NOOP once the whole block has arrived.
    assert.deepEqual(r.commands, ["BOGUS SYNTAX", "NOOP"]);
    assert.deepEqual(srv.stats.repliesSeen[0]?.slice(0, 4), [...block, "200 result=0"]);
    assert.ok(r.durationMs >= 35, `continuation was not delayed (${r.durationMs} ms)`);
  });

  it("a header written in 7-byte pieces arrives whole", async (t) => {
    const srv = await startAgiServer({ commands: ["NOOP"] });
    t.after(() => srv.close());
    const r = await agiCall({ port: srv.port, header: CAPTURED, fragment: { size: 7, delayMs: 1 } });
    assert.equal(r.status, "SUCCESS");
    assert.deepEqual(srv.stats.headers, [CAPTURED]);
    assert.deepEqual(r.commands, ["NOOP"]);
  });

  it("fragmented commands are answered once whole", async (t) => {
    const srv = await startAgiServer({
      commands: ["NOOP", "GET VARIABLE FOO"],
      fragmentCommands: { size: 3, delayMs: 5 },
    });
    t.after(() => srv.close());
    const r = await agiCall({ port: srv.port, reply: getVar("x") });
    assert.deepEqual(r.commands, ["NOOP", "GET VARIABLE FOO"]);
    assert.deepEqual(srv.stats.repliesSeen[0]?.slice(0, 2), ["200 result=1", "200 result=1 (x)"]);
  });

  it("an early HANGUP in the same write as the header is kept, not dropped", async (t) => {
    const srv = await startAgiServer({ commands: ["NOOP"] });
    t.after(() => srv.close());
    const r = await agiCall({ port: srv.port, earlyHangup: true });
    assert.equal(r.status, "SUCCESS");
    assert.deepEqual(srv.stats.headers, [defaultHeader()]);
    assert.deepEqual(srv.stats.repliesSeen[0]?.slice(0, 2), ["HANGUP", "200 result=0"]);
  });

  it("an unprompted HANGUP between a command and its reply, and the final HANGUP after close", async (t) => {
    const srv = await startAgiServer({ commands: ["NOOP", "NOOP", "GET VARIABLE FOO"] });
    t.after(() => srv.close());
    const r = await agiCall({ port: srv.port, hangupAfterCommands: 2 });
    assert.equal(r.status, "SUCCESS");
    assert.deepEqual(r.commands, ["NOOP", "NOOP", "GET VARIABLE FOO"]);
    assert.deepEqual(srv.stats.repliesSeen[0]?.slice(0, 4), [
      "200 result=0",
      "HANGUP",
      "200 result=0",
      "200 result=0",
    ]);
    assert.deepEqual(srv.stats.afterHangup.slice(0, 3), ["HANGUP", "200 result=0", "200 result=0"]);
  });

  it("FAILURE from the server is AGISTATUS=FAILURE; a silent close is SUCCESS", async (t) => {
    const failing = await startAgiServer({ commands: ["failure"] });
    const silent = await startAgiServer({ silentClose: true });
    t.after(() => Promise.all([failing.close(), silent.close()]));
    const f = await agiCall({ port: failing.port });
    assert.equal(f.status, "FAILURE");
    assert.deepEqual(f.commands, ["failure"]);
    const s = await agiCall({ port: silent.port });
    assert.equal(s.status, "SUCCESS");
    assert.deepEqual(s.commands, []);
    assert.equal(silent.stats.headers.length, 1);
  });

  it("connection refused is FAILURE; a server that never closes ends in our timeout", async (t) => {
    const gone = await startAgiServer();
    const port = gone.port;
    await gone.close();
    const refused = await agiCall({ port });
    assert.equal(refused.status, "FAILURE");
    assert.equal(refused.closedBy, "error");

    const stuck = await startAgiServer({ commands: ["NOOP"], neverClose: true });
    t.after(() => stuck.close());
    const r = await agiCall({ port: stuck.port, timeoutMs: 300 });
    assert.equal(r.closedBy, "timeout");
    assert.equal(r.status, "ERROR");
    assert.deepEqual(r.commands, ["NOOP"]);
  });

  it("UTF-8 header values reach the server as bytes", async (t) => {
    const srv = await startAgiServer({ commands: [] });
    t.after(() => srv.close());
    await agiCall({ port: srv.port, vars: { agi_calleridname: "Zoë Ünal 電話" } });
    const expected = setVar(defaultHeader(), "agi_calleridname", "Zoë Ünal 電話");
    assert.deepEqual(srv.stats.headers[0], expected);
    assert.ok(expected.includes(Buffer.from("agi_calleridname: Zoë Ünal 電話\n", "utf8")));
  });

  it("speaks over TLS with the test certificates", async (t) => {
    const srv = await startAgiServer({
      commands: ["NOOP"],
      tls: { cert: pem("server.pem"), key: pem("server.key") },
    });
    t.after(() => srv.close());
    const r = await agiCall({ port: srv.port, tls: { ca: pem("ca.pem"), servername: "localhost" } });
    assert.equal(r.status, "SUCCESS");
    assert.deepEqual(r.commands, ["NOOP"]);
    const rogue = await agiCall({
      port: srv.port,
      tls: { ca: pem("rogue-ca.pem"), servername: "localhost" },
    });
    assert.equal(rogue.status, "FAILURE");
    assert.equal(srv.stats.headers.length, 1);
  });

  it("TLS with client certificates: the test client cert is accepted, none is refused", async (t) => {
    const srv = await startAgiServer({
      commands: ["NOOP"],
      tls: {
        cert: pem("server.pem"),
        key: pem("server.key"),
        ca: pem("ca.pem"),
        requestCert: true,
        rejectUnauthorized: true,
      },
    });
    t.after(() => srv.close());
    const ok = await agiCall({
      port: srv.port,
      tls: { ca: pem("ca.pem"), cert: pem("client.pem"), key: pem("client.key") },
    });
    assert.equal(ok.status, "SUCCESS");
    assert.deepEqual(ok.commands, ["NOOP"]);
    const anon = await agiCall({ port: srv.port, tls: { ca: pem("ca.pem") } });
    assert.notEqual(anon.status, "SUCCESS");
    assert.equal(srv.stats.headers.length, 1);
  });

  it("counts concurrent sessions", async (t) => {
    const srv = await startAgiServer({ commands: ["NOOP"], holdOpenMs: 100 });
    t.after(() => srv.close());
    const rs = await Promise.all(Array.from({ length: 5 }, () => agiCall({ port: srv.port })));
    assert.ok(rs.every((r) => r.status === "SUCCESS"));
    assert.equal(srv.stats.sessions, 5);
    assert.equal(srv.stats.maxActive, 5);
  });
});

describe("ding-dong (npm)", () => {
  it("parses the captured header and answers its script", async (t) => {
    const dd = await startDingDong();
    t.after(() => dd.close());
    const r = await agiCall({ port: dd.port, header: CAPTURED, reply: getVar("4155551234") });
    assert.equal(r.status, "SUCCESS");
    assert.equal(r.closedBy, "server");
    assert.deepEqual(r.commands, [
      'VERBOSE "ding-dong hello?x=1&y=%20z" 1',
      "GET VARIABLE CALLERID(num)",
      'SET VARIABLE DINGDONG_GOT "4155551234"',
    ]);
    assert.equal(dd.stats.variables[0]?.agi_channel, "Local/ans@load-0001ce1c;1");
    assert.deepEqual(dd.stats.gotValues, ["4155551234"]);
  });

  it("copes with a fragmented header", async (t) => {
    const dd = await startDingDong();
    t.after(() => dd.close());
    const r = await agiCall({ port: dd.port, fragment: { size: 50, delayMs: 2 }, reply: getVar("7") });
    assert.equal(r.status, "SUCCESS");
    assert.equal(r.commands.length, 3);
  });
});

describe("Asterisk::AGI (Debian libasterisk-agi-perl)", () => {
  let perl: Awaited<ReturnType<typeof startPerlAgi>> | undefined;
  after(() => perl?.close());

  it("reads the header with ReadParse and runs its commands", async () => {
    perl = await startPerlAgi();
    const r = await agiCall({
      port: perl.port,
      url: "agi://127.0.0.1:4573/perl/demo?a=1",
      reply: getVar("555"),
    });
    assert.equal(r.status, "SUCCESS");
    assert.equal(r.closedBy, "server");
    assert.deepEqual(r.commands, [
      'VERBOSE "perl perl/demo?a=1" 1',
      "GET VARIABLE CALLERID(num)",
      'SET VARIABLE PERL_GOT "555"',
    ]);
  });

  it("serves sessions in parallel (forking) with a fragmented header", async () => {
    assert.ok(perl);
    const port = perl.port;
    const rs = await Promise.all(
      Array.from({ length: 3 }, (_, i) =>
        agiCall({
          port,
          fragment: { size: 64, delayMs: 1 },
          reply: getVar(String(i)),
          vars: { agi_calleridname: "Zoë" },
        }),
      ),
    );
    for (const [i, r] of rs.entries()) {
      assert.equal(r.status, "SUCCESS");
      assert.equal(r.commands[2], `SET VARIABLE PERL_GOT "${i}"`);
    }
    assert.match(perl.stderr(), /calleridname=Zoë/);
  });
});
