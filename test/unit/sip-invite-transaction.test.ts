// The INVITE transaction (invite-tx.ts, invite-branch.ts) with a fake sender and an injected
// clock: retransmission timers, failover, CANCEL rules and what the caller gets, with no
// socket and no real waiting.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type SipClock, TIMER_C, type TimerHandle } from "../../src/protocols/sip/clock.ts";
import { removeTopVia } from "../../src/protocols/sip/edit.ts";
import { headerValue } from "../../src/protocols/sip/headers.ts";
import { type FailedBranch, type InviteEnv, InviteTransaction } from "../../src/protocols/sip/invite-tx.ts";
import { parseMessage } from "../../src/protocols/sip/message.ts";
import { buildResponse } from "../../src/protocols/sip/response.ts";
import type { SipPeer } from "../../src/protocols/sip/transport.ts";
import type { SipError, SipRequest, SipResponse } from "../../src/protocols/sip/types.ts";
import { parseVia } from "../../src/protocols/sip/via.ts";

class FakeClock implements SipClock {
  t = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #id = 0;
  now() {
    return this.t;
  }
  set(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#id;
    this.#timers.push({ at: this.t + ms, fn, id });
    return { __timer: true, id } as unknown as TimerHandle;
  }
  clear(h: TimerHandle | undefined) {
    const id = (h as unknown as { id: number } | undefined)?.id;
    this.#timers = this.#timers.filter((x) => x.id !== id);
  }
  /** The event loop blocked for `ms`: time passes, no timer runs (advance(0) then runs them, late). */
  stall(ms: number) {
    this.t += ms;
  }
  advance(ms: number) {
    const end = this.t + ms;
    for (let n = 0; n < 10_000; n++) {
      const next = this.#timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at); // after a stall, timers run late
      next.fn();
    }
    this.t = end;
  }
}

interface Srv {
  readonly key: string;
  readonly port: number;
}

const CALLER: SipPeer = { transport: "udp", host: "10.0.0.9", port: 5062 };
const INVITE = parse(
  "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bKcaller\r\nMax-Forwards: 69\r\nFrom: <sip:alice@x>;tag=a\r\nTo: <sip:bob@example.com>\r\nCall-ID: tx-1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
) as SipRequest;

function parse(text: string) {
  const m = parseMessage(Buffer.from(text), { stream: false });
  assert.ok(m.ok, text);
  return m.message;
}

/** How a send to a port fails: at once (false), or later through its `failed` callback. */
type SendFault = "refused_now" | SipError;

function setup(
  servers: Srv[],
  opts: { failoverCodes?: number[]; faults?: ReadonlyMap<number, SendFault>; ringTimeoutMs?: number } = {},
) {
  const clock = new FakeClock();
  const sent: { to: SipPeer; text: string }[] = [];
  /** Failures the transport has yet to report (a connect still under way). */
  const lost: (() => void)[] = [];
  const branches = new Map<string, InviteTransaction<Srv>>();
  const log: string[] = [];
  const answers: {
    code: number;
    server: string | undefined;
    held: boolean;
    failures: readonly FailedBranch[];
  }[] = [];
  const env: InviteEnv<Srv> = {
    clock,
    sendBytes: (to, bytes, failed) => {
      sent.push({ to, text: bytes.toString("latin1") });
      const fault = opts.faults?.get(to.port);
      if (fault === "refused_now") return false;
      if (fault && failed) lost.push(() => failed(fault));
      return true;
    },
    retransmit: true,
    retransmitBranches: true,
    failoverCodes: opts.failoverCodes ?? [500, 503, 408],
    inviteTimeoutMs: 2000,
    ringTimeoutMs: opts.ringTimeoutMs ?? TIMER_C,
    via: (b) => `SIP/2.0/UDP 10.0.0.1:5060;branch=${b};rport`,
    recordRoute: () => ["<sip:10.0.0.1:5060;transport=udp;lr>"],
    target: (s) => ({ transport: "udp", host: "10.0.1.1", port: s.port }),
    acquire: (tried) => servers.find((s) => !tried.has(s)),
    release: (s) => log.push(`release ${s.key}`),
    report: (s, ok, reason) => log.push(`report ${s.key} ${ok} ${reason}`),
    bind: (id, tx) => (tx ? branches.set(id, tx) : branches.delete(id)),
    answered: (code, server, held, failures) => answers.push({ code, server: server?.key, held, failures }),
    done: () => log.push("done"),
  };
  const tx = new InviteTransaction(env, INVITE, INVITE, CALLER, "ourtag");
  const toServer = (port: number) => sent.filter((s) => s.to.port === port);
  const toCaller = () => sent.filter((s) => s.to.port === CALLER.port).map((s) => s.text.split("\r\n")[0]);
  /** The server at `port` answers its last INVITE with `status`, as the proxy hands it on. */
  const respond = (port: number, status: number) => {
    const inv = toServer(port)
      .filter((s) => s.text.startsWith("INVITE"))
      .at(-1);
    assert.ok(inv, `no INVITE to ${port}`);
    const req = parse(inv.text) as SipRequest;
    const r = buildResponse(req, status, { toTag: `srv${port}` });
    assert.ok(r.ok);
    const top = removeTopVia(r.response);
    assert.ok(top.ok);
    const branch = parseVia(top.removed);
    assert.ok(branch.ok && branch.via.branch);
    branches.get(branch.via.branch)?.onResponse(branch.via.branch, top.message as SipResponse, "INVITE");
  };
  /** The transport reports what it lost (the connects fail now). */
  const fail = () => {
    for (const f of lost.splice(0)) f();
  };
  return { clock, sent, tx, log, answers, toServer, toCaller, respond, branches, fail };
}

const A: Srv = { key: "a", port: 1 };
const B: Srv = { key: "b", port: 2 };

test("no provisional reply: INVITE retransmitted at 0, 500, 1500 ms, then the next server at 2 s, never a CANCEL; none left: 503 Retry-After", () => {
  const s = setup([A, B]);
  s.tx.start();
  assert.deepEqual(s.toCaller(), ["SIP/2.0 100 Trying"]);
  s.clock.advance(1999);
  assert.equal(s.toServer(1).length, 3);
  assert.equal(s.toServer(2).length, 0);
  s.clock.advance(1);
  assert.equal(s.toServer(2).length, 1);
  assert.ok(s.log.includes("report a false INVITE failed: no provisional reply within 2000ms"));
  s.clock.advance(2000);
  assert.ok(s.sent.every((x) => !x.text.startsWith("CANCEL")));
  assert.equal(s.toServer(1).length, 3, "the abandoned branch is quiet");
  assert.deepEqual(s.toCaller(), ["SIP/2.0 100 Trying", "SIP/2.0 503 Service Unavailable"]);
  assert.match(s.sent.at(-1)?.text ?? "", /Retry-After: 5/);
  assert.equal(s.answers[0]?.code, 503);
  assert.deepEqual(
    s.answers[0]?.failures.map((f) => f.server),
    ["a", "b"],
  );
});

test("an INVITE whose connection fails (refused) goes to the next server at once, not at invite_timeout, and the server is blamed", () => {
  const refused: SipError = { code: "connect_failed", message: "ECONNREFUSED: connect ECONNREFUSED" };
  const s = setup([A, B], { faults: new Map([[1, refused]]) });
  s.tx.start();
  assert.equal(s.toServer(2).length, 0, "the connect is still under way");
  s.fail();
  assert.equal(s.toServer(2).length, 1, "failed over with no time passing");
  assert.ok(
    s.log.includes(
      "report a false INVITE failed: transport: connect_failed: ECONNREFUSED: connect ECONNREFUSED",
    ),
    s.log.join("; "),
  );
  assert.ok(s.log.includes("release a"));
  s.clock.advance(5000);
  assert.equal(s.toServer(1).length, 1, "no retransmission toward the failed branch");
  assert.equal(s.toServer(2).filter((x) => x.text.startsWith("INVITE")).length, 3);
});

test("an INVITE this process could not send (EMFILE, its own cap) fails over at once and gives the server no verdict; none left: 503", () => {
  const emfile: SipError = { code: "local_resource", message: "EMFILE: too many open files" };
  const s = setup([A, B], {
    faults: new Map<number, SendFault>([
      [1, emfile],
      [2, "refused_now"],
    ]),
  });
  s.tx.start();
  assert.equal(s.answers.length, 0);
  s.fail();
  assert.ok(!s.log.some((l) => l.startsWith("report")), s.log.join("; "));
  assert.deepEqual(s.log.slice(0, 2), ["release a", "release b"]);
  assert.deepEqual(s.toCaller(), ["SIP/2.0 100 Trying", "SIP/2.0 503 Service Unavailable"]);
  assert.deepEqual(
    s.answers[0]?.failures.map((f) => f.error),
    [
      "transport: local_resource: EMFILE: too many open files",
      "transport: not_sent: could not send to udp:10.0.1.1:2",
    ],
  );
});

test("a connect that fails after the branch got its 1xx changes nothing", () => {
  const late: SipError = { code: "connect_failed", message: "ECONNRESET" };
  const s = setup([A, B], { faults: new Map([[1, late]]) });
  s.tx.start();
  s.respond(1, 180);
  s.fail();
  assert.equal(s.toServer(2).length, 0);
  assert.ok(!s.log.some((l) => l.startsWith("report a false")), s.log.join("; "));
});

test("a no-answer timer that fires late (the proxy's own loop was busy) waits that long again: the 1xx read then keeps the call on its server", () => {
  const s = setup([A, B]);
  s.tx.start();
  s.clock.stall(2600); // invite_timeout was due at 2000; the loop got to it at 2600
  s.clock.advance(0);
  assert.equal(s.toServer(2).length, 0, "no failover on our own lag");
  s.respond(1, 180); // the 180 that sat unread in the socket buffer
  s.clock.advance(5000);
  assert.equal(s.toServer(2).length, 0);
  assert.ok(!s.log.some((l) => l.startsWith("report a false")), s.log.join("; "));
  assert.deepEqual(s.toCaller(), ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing"]);
});

test("a loop that stays late: the server is blamed after 3 extensions at most, and a prompt loop blames it at once", () => {
  const s = setup([A, B]);
  s.tx.start();
  let checks = 0;
  while (s.toServer(2).length === 0 && checks < 10) {
    s.clock.stall(s.clock.t === 0 ? 2600 : 1000);
    s.clock.advance(0);
    checks++;
  }
  assert.equal(s.toServer(2).length, 1, "failed over in the end");
  assert.equal(checks, 4, "the first late check and 3 extensions");
  assert.ok(s.log.includes("report a false INVITE failed: no provisional reply within 2000ms"));
  // On time: 2000 ms exactly, no extension (the first test of this file checks 1999 and 2000).
  const p = setup([A, B]);
  p.tx.start();
  p.clock.advance(2000 + 50);
  assert.equal(p.toServer(2).length, 1);
});

test("503 from a server: ACKed hop by hop, next server tried, the caller sees only its 200", () => {
  const s = setup([A, B]);
  s.tx.start();
  s.respond(1, 503);
  const ack = s.toServer(1).find((x) => x.text.startsWith("ACK"));
  assert.ok(ack);
  assert.equal(headerValue(parse(ack.text), "cseq"), "7 ACK");
  assert.equal(s.toServer(2).length, 1);
  s.respond(2, 180);
  s.respond(2, 200);
  assert.deepEqual(s.toCaller(), ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK"]);
  assert.deepEqual(s.answers, [
    { code: 200, server: "b", held: true, failures: [{ server: "a", error: "answered 503" }] },
  ]);
  // Relayed responses carry the caller's Via only.
  const ok = parse(s.sent.at(-1)?.text ?? "");
  assert.equal(headerValue(ok, "via"), "SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bKcaller");
});

test("a 503 that is not a failover code goes upstream as 500 and is retransmitted until the caller's ACK", () => {
  const s = setup([A, B], { failoverCodes: [408] });
  s.tx.start();
  s.respond(1, 503);
  assert.deepEqual(s.toCaller().at(-1), "SIP/2.0 500 Server Internal Error");
  s.clock.advance(500 + 1000);
  assert.equal(s.toCaller().filter((l) => l?.startsWith("SIP/2.0 500")).length, 3);
  s.tx.ack();
  // Timer I (T4, 5 s on UDP) after the ACK, not the whole of Timer H.
  s.clock.advance(4_900);
  assert.equal(s.toCaller().filter((l) => l?.startsWith("SIP/2.0 500")).length, 3);
  assert.ok(!s.log.includes("done"));
  s.clock.advance(200);
  assert.ok(s.log.includes("done"));
  assert.equal(s.branches.size, 0);
});

test("after a 2xx the transaction is gone within T1, not after Timer L's 32 s (the calls table absorbs the rest)", () => {
  const s = setup([A]);
  s.tx.start();
  s.respond(1, 200);
  assert.equal(s.toCaller().at(-1), "SIP/2.0 200 OK");
  s.clock.advance(499);
  assert.ok(!s.log.includes("done"));
  s.clock.advance(2);
  assert.ok(s.log.includes("done"));
  assert.equal(s.branches.size, 0);
});

test("CANCEL before any provisional waits for one; then CANCEL goes with the INVITE's branch and the 487 comes back", () => {
  const s = setup([A, B]);
  s.tx.start();
  s.tx.cancel();
  assert.ok(s.sent.every((x) => !x.text.startsWith("CANCEL")));
  s.respond(1, 180);
  const cancel = s.toServer(1).find((x) => x.text.startsWith("CANCEL"));
  assert.ok(cancel);
  const inv = s.toServer(1).find((x) => x.text.startsWith("INVITE"));
  assert.equal(headerValue(parse(cancel.text), "via"), headerValue(parse(inv?.text ?? ""), "via"));
  s.respond(1, 487);
  assert.equal(s.toCaller().at(-1), "SIP/2.0 487 Request Terminated");
  assert.equal(s.toServer(2).length, 0, "a cancelled call does not fail over");
  assert.equal(s.answers[0]?.code, 487);
});

test("a 2xx from a branch already abandoned is still forwarded and the other branch is CANCELled", () => {
  const s = setup([A, B]);
  s.tx.start();
  s.clock.advance(2000);
  s.respond(2, 180);
  s.respond(1, 200);
  assert.equal(s.toCaller().at(-1), "SIP/2.0 200 OK");
  assert.ok(s.toServer(2).some((x) => x.text.startsWith("CANCEL")));
  assert.equal(s.answers[0]?.server, "a");
  assert.equal(s.answers[0]?.held, false);
});

test("a retransmitted INVITE gets the last response again", () => {
  const s = setup([A]);
  s.tx.start();
  s.respond(1, 183);
  s.tx.retransmission();
  assert.deepEqual(s.toCaller(), [
    "SIP/2.0 100 Trying",
    "SIP/2.0 183 Session Progress",
    "SIP/2.0 183 Session Progress",
  ]);
});

test("the server found gone (its pings refused) while the call rings there: CANCEL to it, the next server at once", () => {
  const s = setup([A, B]);
  s.tx.start();
  s.respond(1, 180);
  s.tx.serverGone("b", "sip-options: refused (ICMP port unreachable)");
  assert.equal(s.toServer(2).length, 0, "another server's death changes nothing");
  s.tx.serverGone("a", "sip-options: refused (ICMP port unreachable)");
  assert.ok(
    s.toServer(1).some((x) => x.text.startsWith("CANCEL")),
    "the ringing branch is CANCELled",
  );
  assert.equal(s.toServer(2).filter((x) => x.text.startsWith("INVITE")).length, 1, "the next server at once");
  assert.ok(
    s.log.includes("report a false INVITE failed: server gone: sip-options: refused (ICMP port unreachable)"),
  );
  s.respond(2, 180);
  s.respond(2, 200);
  assert.deepEqual(s.toCaller(), [
    "SIP/2.0 100 Trying",
    "SIP/2.0 180 Ringing",
    "SIP/2.0 180 Ringing",
    "SIP/2.0 200 OK",
  ]);
  assert.deepEqual(s.answers, [
    {
      code: 200,
      server: "b",
      held: true,
      failures: [{ server: "a", error: "server gone: sip-options: refused (ICMP port unreachable)" }],
    },
  ]);
  // Answered: a later death of the server that took the call ends nothing (its dialog goes on).
  const sentBefore = s.sent.length;
  s.tx.serverGone("b", "sip-options: refused (ICMP port unreachable)");
  assert.equal(s.sent.length, sentBefore);
});

test("the server found gone before any provisional: the next server at once, no CANCEL (none may go unrung)", () => {
  const s = setup([A]);
  s.tx.start();
  s.tx.serverGone("a", "tcp check: ECONNREFUSED");
  assert.ok(s.sent.every((x) => !x.text.startsWith("CANCEL")));
  assert.deepEqual(s.toCaller(), ["SIP/2.0 100 Trying", "SIP/2.0 503 Service Unavailable"]);
});

test("the server found gone after Timer C fired: the caller gets its 408 now, no other server is tried", () => {
  const s = setup([A, B]);
  s.tx.start();
  s.respond(1, 180);
  s.clock.advance(181_000);
  assert.ok(
    s.toServer(1).some((x) => x.text.startsWith("CANCEL")),
    "Timer C CANCELled the branch",
  );
  s.tx.serverGone("a", "sip-options: refused (ICMP port unreachable)");
  assert.equal(s.toServer(2).length, 0);
  assert.deepEqual(s.toCaller(), [
    "SIP/2.0 100 Trying",
    "SIP/2.0 180 Ringing",
    "SIP/2.0 408 Request Timeout",
  ]);
  assert.equal(s.log.filter((l) => l === "release a").length, 1, "the slot given back once");
});

test("the server found gone after the caller's CANCEL: the caller gets its 487, no other server is tried", () => {
  const s = setup([A, B]);
  s.tx.start();
  s.respond(1, 180);
  s.tx.cancel();
  s.tx.serverGone("a", "sip-options: refused (ICMP port unreachable)");
  assert.equal(s.toServer(2).length, 0);
  assert.equal(s.toCaller().at(-1), "SIP/2.0 487 Request Terminated");
  assert.equal(s.log.filter((l) => l === "release a").length, 1, "the slot given back once");
});

test("ring_timeout: a call ringing that long with no final answer is CANCELled, and its caller gets 408, no other server", () => {
  const s = setup([A, B], { ringTimeoutMs: 30_000 });
  s.tx.start();
  s.respond(1, 180);
  s.clock.advance(20_000);
  s.respond(1, 183); // each provisional reply starts it again (RFC 3261 §16.6 step 11)
  s.clock.advance(29_999);
  assert.ok(
    s.sent.every((x) => !x.text.startsWith("CANCEL")),
    "not before 30 s after the last 1xx",
  );
  s.clock.advance(1);
  assert.equal(s.toServer(1).filter((x) => x.text.startsWith("CANCEL")).length, 1, "CANCELled at 30 s");
  s.respond(1, 487);
  assert.equal(s.toServer(2).length, 0, "a call nobody answered is not rung elsewhere");
  assert.deepEqual(s.toCaller(), [
    "SIP/2.0 100 Trying",
    "SIP/2.0 180 Ringing",
    "SIP/2.0 183 Session Progress",
    "SIP/2.0 408 Request Timeout",
  ]);
  assert.equal(s.answers[0]?.code, 408);
});

test("ring_timeout unset: Timer C's 181 s", () => {
  const s = setup([A]);
  s.tx.start();
  s.respond(1, 180);
  s.clock.advance(180_999);
  assert.ok(s.sent.every((x) => !x.text.startsWith("CANCEL")));
  s.clock.advance(1);
  assert.ok(s.toServer(1).some((x) => x.text.startsWith("CANCEL")));
});

test("a call answered after ringing longer than Timer B's 32 s is the transaction's: its 200 goes up, no CANCEL, no 408", () => {
  const s = setup([A, B]);
  s.tx.start();
  s.respond(1, 180);
  s.clock.advance(40_000);
  s.respond(1, 200);
  assert.deepEqual(s.toCaller(), ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK"]);
  assert.equal(s.answers[0]?.code, 200);
  s.clock.advance(TIMER_C + 64_000);
  assert.ok(
    s.sent.every((x) => !x.text.startsWith("CANCEL")),
    "Timer C does not touch an answered call",
  );
  assert.equal(s.toCaller().length, 3, "no 408 after the 200");
  assert.equal(s.toServer(2).length, 0);
});

test("ring_timeout counts from the first 1xx: a 100 starts it and never starts it again; a 180 does (RFC 3261 §16.7 step 2)", () => {
  const s = setup([A, B], { ringTimeoutMs: 30_000 });
  s.tx.start();
  s.respond(1, 100);
  s.clock.advance(20_000);
  s.respond(1, 100);
  s.clock.advance(10_000);
  assert.equal(
    s.toServer(1).filter((x) => x.text.startsWith("CANCEL")).length,
    1,
    "30 s after the first 100",
  );

  const t = setup([A, B], { ringTimeoutMs: 30_000 });
  t.tx.start();
  t.respond(1, 100);
  t.clock.advance(20_000);
  t.respond(1, 180);
  t.clock.advance(29_999);
  assert.ok(
    t.sent.every((x) => !x.text.startsWith("CANCEL")),
    "the 180 started it again",
  );
  t.clock.advance(1);
  assert.equal(t.toServer(1).filter((x) => x.text.startsWith("CANCEL")).length, 1);
});

test("a server that re-sends its 180 every minute rings a call for 10 minutes at most, then CANCEL and 408", () => {
  const s = setup([A]);
  s.tx.start();
  for (let i = 0; i < 10; i++) {
    s.respond(1, 180);
    assert.ok(
      s.sent.every((x) => !x.text.startsWith("CANCEL")),
      `not at minute ${i}`,
    );
    s.clock.advance(60_000);
  }
  assert.equal(s.toServer(1).filter((x) => x.text.startsWith("CANCEL")).length, 1, "CANCELled at 600 s");
  s.respond(1, 487);
  assert.equal(s.answers[0]?.code, 408);
});

test("a final answer with no 1xx before it keeps its branch bound while the transaction lives: its retransmission past 32 s is ACKed again", () => {
  const s = setup([A], { failoverCodes: [] });
  s.tx.start();
  s.clock.advance(1_000);
  s.respond(1, 486);
  assert.deepEqual(s.toCaller(), ["SIP/2.0 100 Trying", "SIP/2.0 486 Busy Here"]);
  const acks = () => s.toServer(1).filter((x) => x.text.startsWith("ACK")).length;
  assert.equal(acks(), 1);
  s.clock.advance(31_500); // 32.5 s after the INVITE: Timer B's 64·T1 has passed, Timer H's not
  s.respond(1, 486);
  assert.equal(acks(), 2, "the repeated 486 found its branch and was ACKed hop by hop");
});
