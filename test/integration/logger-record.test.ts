// Logger.record: the per-session line written without pino's general machinery must be the
// very line pino writes (stdout and syslog), level filtering included.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { Writable } from "node:stream";
import { test } from "node:test";
import type { SessionEnded } from "../../src/events/types.ts";
import { logSession } from "../../src/observe/events.ts";
import { createLogger } from "../../src/observe/logger.ts";

function capture(): { dest: Writable; lines: string[] } {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { dest, lines };
}

const withoutTime = (line: string) => line.replace(/"time":"[^"]*"/, '"time":"T"');

const FIELDS = {
  event: "session",
  client: "127.0.0.1:51234",
  listener: "agi",
  request: 'agi://pbx/ivr?x="q"&y=%20z\n\t\u0001 Zoë 日本 \ud800',
  route: undefined,
  pool: "main",
  server: "127.0.0.1:4573",
  duration_ms: 7,
  bytes_in: 560,
  bytes_out: 35.5,
  outcome: "upstream_gone",
  failed_attempts: [{ server: "10.0.0.1:4573", error: "ECONNREFUSED", code: "E_CONNECT" }],
  error: "server closed with 1 of 2 commands unanswered",
};

test("record() writes the line pino writes for the same fields, at info and at warn", () => {
  for (const level of ["info", "warn"] as const) {
    const { dest, lines } = capture();
    const l = createLogger({ level: "info", destination: dest, pretty: false, appName: "trunkline" });
    l.log[level](FIELDS, "session ended");
    l.record(level, FIELDS, "session ended");
    l.record(level, {}, "no fields");
    l.log[level]({}, "no fields");
    assert.equal(lines.length, 4);
    assert.equal(withoutTime(lines[1] as string), withoutTime(lines[0] as string));
    assert.equal(withoutTime(lines[2] as string), withoutTime(lines[3] as string));
    // And it is JSON that reads back to the fields.
    const back = JSON.parse(lines[1] as string) as Record<string, unknown>;
    assert.equal(back.request, FIELDS.request);
    assert.equal(back.severity, level);
    assert.ok(!("route" in back), "an undefined field is left out, as pino does");
  }
});

test("record() given the fields already as JSON writes the line pino writes for them", () => {
  const { dest, lines } = capture();
  const l = createLogger({ level: "info", destination: dest, pretty: false, appName: "trunkline" });
  l.log.warn(FIELDS, "session ended");
  l.record("warn", { event: "session" }, "session ended", JSON.stringify(FIELDS).slice(1, -1));
  assert.equal(lines.length, 2);
  assert.equal(withoutTime(lines[1] as string), withoutTime(lines[0] as string));
});

test("record() follows the level: info records are dropped at warn, and a level change reaches them", () => {
  const { dest, lines } = capture();
  const l = createLogger({ level: "warn", destination: dest, pretty: false });
  l.record("info", FIELDS, "session ended");
  assert.equal(lines.length, 0);
  l.record("warn", FIELDS, "session ended");
  assert.equal(lines.length, 1);
  l.setLevel("info");
  l.record("info", FIELDS, "session ended");
  assert.equal(lines.length, 2);
});

test("record() reaches syslog with the severity and MSGID that pino's line gets", async (t) => {
  const rx = createSocket("udp4");
  rx.bind(0, "127.0.0.1");
  await once(rx, "listening");
  t.after(() => rx.close());
  const got: string[] = [];
  rx.on("message", (m) => got.push(String(m)));
  const { dest } = capture();
  const l = createLogger({
    level: "info",
    destination: dest,
    pretty: false,
    syslog: { target: { transport: "udp", host: "127.0.0.1", port: rx.address().port }, facility: 16 },
  });
  t.after(() => l.close());
  l.log.warn(FIELDS, "session ended");
  l.record("warn", FIELDS, "session ended");
  const end = Date.now() + 5_000;
  while (got.length < 2) {
    if (Date.now() > end) throw new Error(`${got.length} of 2 datagrams within 5 s`);
    await new Promise((r) => setImmediate(r));
  }
  // local0 (16) * 8 + warning (4) = 132; MSGID is the record's event.
  for (const d of got) assert.match(d, /^<132>1 \S+ \S+ \S+ \S+ session - /);
  assert.equal(
    withoutTime((got[1] as string).replace(/^<132>1 \S+/, "")),
    withoutTime((got[0] as string).replace(/^<132>1 \S+/, "")),
  );
});

test("a session that went well makes no line at all at log level warn; one that failed still does", () => {
  const { dest, lines } = capture();
  const l = createLogger({ level: "warn", destination: dest, pretty: false, appName: "trunkline" });
  assert.equal(l.record.enabled("info"), false);
  assert.equal(l.record.enabled("warn"), true);
  // Every field read is counted: at warn, a session that went well must not be read for a line.
  let reads = 0;
  const session = (ok: boolean): SessionEnded =>
    new Proxy(
      {
        protocol: "http",
        listener: "web",
        client: "127.0.0.1:5000",
        request: "GET /",
        upstreamRequest: undefined,
        route: undefined,
        pool: "api",
        server: "127.0.0.1:8000",
        attempts: [],
        durationMs: 1.5,
        setupMs: 0.5,
        bytesIn: 40,
        bytesOut: 200,
        outcome: ok ? "200" : "502",
        ok,
        error: undefined,
        errorCode: undefined,
        http: { method: "GET", host: "a", path: "/", status: ok ? 200 : 502, by: "upstream" },
      } satisfies SessionEnded,
      {
        get(target, key, receiver) {
          if (key !== "ok") reads++;
          return Reflect.get(target, key, receiver);
        },
      },
    );
  logSession(l.log, session(true), l.record);
  assert.equal(reads, 0, "the line of a session that went well was made at warn");
  assert.equal(lines.length, 0);
  logSession(l.log, session(false), l.record);
  assert.ok(reads > 0);
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0] as string).outcome, "502");
  l.setLevel("info");
  logSession(l.log, session(true), l.record);
  assert.equal(lines.length, 2, "at info it is written again");
});
