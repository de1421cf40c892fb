import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  AGENT_REPLY_MAX_BYTES,
  AGENT_STATUSES,
  type AgentReport,
  type AgentState,
  formatAgentReply,
  parseAgentReply,
} from "../../src/agent/reply.ts";
import { validateState } from "../../src/agent/state.ts";

/**
 * A fixed number of runs, and a time bound: a failure found in a large input can take
 * fast-check's shrinking minutes, so both the search and the shrinking stop after 20 s
 * (reporting the smallest failure found so far), and a run cut short fails.
 */
const runs = (numRuns: number) => ({
  numRuns,
  plugins: [fc.interruptAfterTimeLimit(20_000, { failOnInterrupt: true })],
});

/**
 * Properties of HAProxy's agent-check reply line (HAProxy 2.6 configuration manual §5.2,
 * "agent-check"): our reader never throws and ignores a reply without a line end in its
 * first KiB; what our agent writes reads back as the state it was written for; and the
 * reading depends on the words only, not on their order, separators or case.
 */

// fast-check draws lengths from a "small" size by default (about ten elements whatever
// maxLength says); `size: "max"` makes the whole range up to maxLength reachable.

const HEALTH = ["up", "down", "fail", "stopped"] as const;
const ADMIN = ["ready", "drain", "maint"] as const;
const KNOWN: ReadonlySet<string> = new Set([...HEALTH, ...ADMIN]);
const REPORT_KEYS = new Set(["health", "admin", "weightPercent", "maxconn", "description", "errors"]);

/** The first CR or LF in `bytes`, or -1. */
function firstLineEnd(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a || bytes[i] === 0x0d) return i;
  return -1;
}

/** What any report must look like, whatever the bytes were. */
function checkReport(r: AgentReport): void {
  for (const k of Object.keys(r)) assert.ok(REPORT_KEYS.has(k), `unexpected key ${k}`);
  assert.ok(Array.isArray(r.errors));
  for (const e of r.errors) {
    assert.equal(typeof e, "string");
    assert.ok(e.length > 0 && !/[ \t,\r\n]/.test(e), JSON.stringify(e));
  }
  if (r.health !== undefined) assert.ok((HEALTH as readonly string[]).includes(r.health));
  if (r.admin !== undefined) assert.ok((ADMIN as readonly string[]).includes(r.admin));
  if (r.weightPercent !== undefined) assert.ok(r.weightPercent >= 0, String(r.weightPercent));
  if (r.maxconn !== undefined) assert.ok(r.maxconn >= 0, String(r.maxconn));
  if (r.description !== undefined) assert.equal(typeof r.description, "string");
}

/** Bytes with CR, LF, separators and the reply's words common enough to matter. */
const replyishBytes = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: fc.uint8Array({ maxLength: 8 }) },
      {
        weight: 3,
        arbitrary: fc
          .constantFrom(...HEALTH, ...ADMIN, "50%", "maxconn:10", "#", " ", "\t", ",", "\r", "\n", "é", "☎")
          .map((w) => Buffer.from(w)),
      },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 1500 }).map((n) => Buffer.alloc(n, 0x20)) },
    ),
    { maxLength: 40, size: "max" },
  )
  .map((parts) => Buffer.concat(parts));

test("parseAgentReply never throws; it reads a line only when CR or LF ends it within the first KiB", () => {
  let defined = 0;
  let ignored = 0;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 3000, size: "max" }).map((a) => Buffer.from(a)),
        replyishBytes,
      ),
      (bytes) => {
        const r = parseAgentReply(bytes);
        const end = firstLineEnd(bytes);
        if (end < 0 || end >= AGENT_REPLY_MAX_BYTES) {
          assert.equal(r, undefined);
          ignored++;
        } else {
          assert.ok(r);
          checkReport(r);
          // Only the line counts: what follows the line end changes nothing.
          assert.deepEqual(parseAgentReply(bytes.subarray(0, end + 1)), r);
          defined++;
        }
      },
    ),
    runs(400),
  );
  assert.ok(defined > 0 && ignored > 0, `${defined} read, ${ignored} ignored`);
});

test("parseAgentReply never throws on any string, lone surrogates included", () => {
  const unit = fc.oneof(
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    fc.constantFrom(" ", ",", "\t", "\n", "\r", "#", "%", "up", "MAXCONN:"),
  );
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 600, size: "max" }), (s) => {
      const r = parseAgentReply(s);
      const bytes = Buffer.from(s, "utf8");
      const end = firstLineEnd(bytes);
      assert.equal(r === undefined, end < 0 || end >= AGENT_REPLY_MAX_BYTES);
      if (r) {
        checkReport(r);
        assert.deepEqual(parseAgentReply(bytes), r, "a string reads as its UTF-8 bytes");
      }
    }),
    runs(300),
  );
});

test("a reply whose line end comes after the first KiB is ignored, however it starts", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: AGENT_REPLY_MAX_BYTES, maxLength: 2000, size: "max" }),
      fc.constantFrom("\n", "\r\n", "\r"),
      (body, eol) => {
        const line = Buffer.from(body.map((b) => (b === 0x0a || b === 0x0d ? 0x20 : b)));
        assert.equal(parseAgentReply(Buffer.concat([line, Buffer.from(eol)])), undefined);
        // The same line cut to fit, line end included, is read.
        const cut = Buffer.concat([line.subarray(0, AGENT_REPLY_MAX_BYTES - 1), Buffer.from("\n")]);
        assert.ok(parseAgentReply(cut));
      },
    ),
    runs(100),
  );
});

/** Any state the hapgent state file may hold (validateState's rules). */
const agentState: fc.Arbitrary<AgentState> = fc
  .record(
    {
      status: fc.constantFrom(...AGENT_STATUSES),
      weight: fc.integer({ min: 0, max: 255 }),
      maxconn: fc.integer({ min: 0, max: 65535 }),
    },
    { requiredKeys: ["status"] },
  )
  .map((s) => ({ ...s }));

/** The health and admin words each status means to HAProxy (formatAgentReply's table). */
const MEANT: Record<AgentState["status"], Pick<AgentReport, "health" | "admin">> = {
  UP: { health: "up", admin: "ready" },
  READY: { health: "up", admin: "ready" },
  DRAIN: { health: "up", admin: "drain" },
  MAINT: { admin: "maint" },
  DOWN: { health: "down", admin: "ready" },
  FAIL: { health: "fail", admin: "ready" },
  STOPPED: { health: "stopped", admin: "ready" },
};

test("both ways: every valid state, formatted by the agent and read back, gives its admin, health, weight and maxconn", () => {
  fc.assert(
    fc.property(agentState, (state) => {
      assert.deepEqual(validateState(state), state, "the generator stays within the state file's rules");
      const line = formatAgentReply(state);
      assert.ok(line.endsWith("\n") && Buffer.byteLength(line) < AGENT_REPLY_MAX_BYTES, line);
      const want: AgentReport = {
        errors: [],
        ...MEANT[state.status],
        ...(state.weight !== undefined ? { weightPercent: state.weight } : {}),
        ...(state.maxconn !== undefined ? { maxconn: state.maxconn } : {}),
      };
      assert.deepEqual(parseAgentReply(line), want, line);
    }),
    runs(300),
  );
});

/** One way to write a word: each letter in either case (HAProxy compares with strcasecmp). */
const caseOf = (word: string) =>
  fc
    .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
    .map((upper) => [...word].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(""));
/** A run of separators as HAProxy accepts them: spaces, tabs and commas, mixed. */
const separator = fc.string({ unit: fc.constantFrom(" ", "\t", ","), minLength: 1, maxLength: 4 });
const optionalSeparator = fc.string({ unit: fc.constantFrom(" ", "\t", ","), maxLength: 3 });

/**
 * The words of `words` in any order, each in any case, between any separators, maybe with
 * a `#` description after them, ending in any line end (what follows it is not read).
 */
const rewritten = (words: readonly string[]) =>
  fc
    .record({
      order: fc.shuffledSubarray([...words.keys()], { minLength: words.length, maxLength: words.length }),
      cased: fc.tuple(...words.map(caseOf)),
      seps: fc.array(separator, { minLength: words.length, maxLength: words.length }),
      lead: optionalSeparator,
      trail: optionalSeparator,
      description: fc.option(
        fc.string({ unit: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }), maxLength: 20 }),
      ),
      eol: fc.constantFrom("\n", "\r\n", "\r", "\nup drain\n"),
    })
    .map(({ order, cased, seps, lead, trail, description, eol }) => {
      const body = order.map((i, n) => `${n === 0 ? "" : seps[n]}${cased[i]}`).join("");
      // A `#` starts the description only at the start of a word: a separator comes first.
      const tail = description === null ? trail : `${seps[0] ?? " "}#${description}`;
      return { line: `${lead}${body}${tail}${eol}`, description };
    });

test("word order, separators (space, tab, comma) and letter case do not change what a reply says", () => {
  fc.assert(
    fc.property(
      agentState.chain((state) => {
        const words = formatAgentReply(state).trimEnd().split(" ");
        return fc.tuple(fc.constant(state), fc.constant(words), rewritten(words));
      }),
      ([state, words, { line, description }]) => {
        const want = parseAgentReply(`${words.join(" ")}\n`);
        assert.ok(want);
        // Within the first KiB, as any reply our agent writes (20 graphemes stay far below).
        assert.ok(Buffer.byteLength(line) < AGENT_REPLY_MAX_BYTES);
        const got = parseAgentReply(line);
        assert.ok(got, JSON.stringify(line));
        const { description: gotDescription, ...rest } = got;
        assert.deepEqual(rest, want, `${JSON.stringify(state)}: ${JSON.stringify(line)}`);
        // The description is everything after the `#`, trimmed.
        assert.equal(gotDescription, description === null ? undefined : description.trim());
      },
    ),
    runs(400),
  );
});

/** Words HAProxy knows, and others it reports as errors. */
const anyWord = fc.oneof(
  fc.constantFrom(...HEALTH, ...ADMIN),
  fc.integer({ min: 0, max: 1000 }).map((n) => `${n}%`),
  fc.integer({ min: 0, max: 100_000 }).map((n) => `maxconn:${n}`),
  fc.constantFrom("50", "maxconn:", "maxconn:-1", "1.5%", "upp", "a#b", "Zoë"),
);

test("several words of one kind: the last one wins, each case and separator alike", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(anyWord, fc.boolean(), separator), { maxLength: 12, size: "max" }),
      (parts) => {
        const line = `${parts.map(([w, upper, sep]) => `${upper ? w.toUpperCase() : w}${sep}`).join("")}\n`;
        const lower = parts.map(([w]) => w.toLowerCase());
        const last = <T extends string>(set: readonly T[]) =>
          lower.filter((w): w is T => (set as readonly string[]).includes(w)).at(-1);
        const pct = lower.filter((w) => /^\d+%$/.test(w)).at(-1);
        const mc = lower.filter((w) => /^maxconn:\d+$/.test(w)).at(-1);
        const want: AgentReport = {
          errors: parts
            .map(([w, upper]) => (upper ? w.toUpperCase() : w))
            .filter((w) => {
              const l = w.toLowerCase();
              return !KNOWN.has(l) && !/^\d+%$/.test(l) && !/^maxconn:\d+$/.test(l);
            }),
        };
        const health = last(HEALTH);
        const admin = last(ADMIN);
        if (health !== undefined) want.health = health;
        if (admin !== undefined) want.admin = admin;
        if (pct !== undefined) want.weightPercent = Number(pct.slice(0, -1));
        if (mc !== undefined) want.maxconn = Number(mc.slice("maxconn:".length));
        assert.deepEqual(parseAgentReply(line), want, JSON.stringify(line));
      },
    ),
    runs(300),
  );
});
