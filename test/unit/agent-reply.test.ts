import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type AgentReport,
  type AgentState,
  formatAgentReply,
  parseAgentReply,
} from "../../src/agent/reply.ts";

/**
 * A model of how HAProxy 2.6 applies a reply to a server (HAProxy 2.6 manual §5.2 agent-check, measured on 2.6.12): admin
 * first, then weight (percent of the configured weight, capped at 256), then maxconn, then
 * health. Used to check both our reader and our writer against the observed table.
 */
interface Srv {
  op: "UP" | "DOWN";
  admin: "READY" | "DRAIN" | "MAINT";
  weight: number;
  maxconn: number;
  desc?: string;
}
function apply(s: Srv, configured: number, r: AgentReport): Srv {
  const out = { ...s };
  if (r.admin === "ready") out.admin = "READY";
  if (r.admin === "drain") out.admin = "DRAIN";
  if (r.admin === "maint") out.admin = "MAINT";
  if (r.weightPercent !== undefined)
    out.weight = Math.min(256, Math.floor((configured * r.weightPercent) / 100));
  if (r.maxconn !== undefined) out.maxconn = r.maxconn;
  if (r.health === "up") out.op = "UP";
  else if (r.health) out.op = "DOWN";
  if (r.description !== undefined) out.desc = r.description;
  return out;
}
const fresh = (w: number): Srv => ({ op: "UP", admin: "READY", weight: w, maxconn: 0 });
const read = (line: string) => {
  const r = parseAgentReply(line);
  assert.ok(r, `reply ${JSON.stringify(line)} must parse`);
  return r;
};

test("every row of the observed HAProxy 2.6 table, read by our reader", () => {
  assert.deepEqual(apply(fresh(100), 100, read("up\n")), fresh(100));
  assert.equal(apply(fresh(50), 50, read("50%\n")).weight, 25);
  assert.equal(apply(fresh(100), 100, read("up 300%\n")).weight, 256);
  assert.equal(apply(fresh(100), 100, read("drain\n")).admin, "DRAIN");
  const drained = apply(fresh(100), 100, read("drain\n"));
  assert.equal(apply(drained, 100, read("up\n")).admin, "DRAIN", "up does not clear DRAIN");
  const down = apply(fresh(100), 100, read("down #maintenance window\n"));
  assert.equal(down.op, "DOWN");
  assert.equal(down.desc, "maintenance window");
  assert.equal(apply(fresh(100), 100, read("maint\n")).admin, "MAINT");
  assert.deepEqual(apply(fresh(100), 100, read("READY 75% maxconn:1000\n")), {
    op: "UP",
    admin: "READY",
    weight: 75,
    maxconn: 1000,
  });
  assert.deepEqual(apply(fresh(100), 100, read("up,ready,100%,maxconn:5 # all fine\n")), {
    op: "UP",
    admin: "READY",
    weight: 100,
    maxconn: 5,
    desc: "all fine",
  });
  const garbage = read("garbage\n");
  assert.deepEqual(garbage.errors, ["garbage"]);
  assert.deepEqual(apply(fresh(100), 100, garbage), fresh(100));
  assert.equal(parseAgentReply("down"), undefined, "no CR/LF: ignored");
});

test("reader details: CR ends the line, tabs and commas separate, last word wins, case-insensitive, numbers without % are errors", () => {
  assert.deepEqual(read("DOWN\rup\n"), { errors: [], health: "down" });
  assert.deepEqual(read("up\tdown,Stopped\n"), { errors: [], health: "stopped" });
  assert.deepEqual(read("50 maxconn: 7%\n").errors, ["50", "maxconn:"]);
  assert.equal(read("up a#b\n").errors[0], "a#b", "# inside a word is an ordinary character");
});

test("our writer: every state reads back, through HAProxy's rules, as the state meant", () => {
  const cases: [AgentState, Partial<Srv>][] = [
    [{ status: "UP" }, { op: "UP", admin: "READY" }],
    [
      { status: "READY", weight: 75, maxconn: 1000 },
      { op: "UP", admin: "READY", weight: 75, maxconn: 1000 },
    ],
    [
      { status: "DRAIN", weight: 50 },
      { op: "UP", admin: "DRAIN", weight: 50 },
    ],
    [{ status: "MAINT" }, { admin: "MAINT" }],
    [{ status: "DOWN" }, { op: "DOWN", admin: "READY" }],
    [{ status: "FAIL" }, { op: "DOWN", admin: "READY" }],
    [
      { status: "STOPPED", maxconn: 0 },
      { op: "DOWN", admin: "READY", maxconn: 0 },
    ],
  ];
  // From any earlier admin state, including DRAIN and MAINT set before.
  for (const start of [
    fresh(100),
    { ...fresh(100), admin: "DRAIN" as const },
    { ...fresh(100), admin: "MAINT" as const, op: "DOWN" as const },
  ]) {
    for (const [state, want] of cases) {
      const line = formatAgentReply(state);
      assert.ok(line.endsWith("\n"));
      const got = apply(start, 100, read(line));
      for (const [k, v] of Object.entries(want))
        assert.equal(
          got[k as keyof Srv],
          v,
          `${JSON.stringify(state)} from ${start.admin}: ${k} (${line.trim()})`,
        );
      assert.deepEqual(read(line).errors, []);
    }
  }
  assert.equal(formatAgentReply({ status: "UP" }), "up ready\n");
  assert.equal(formatAgentReply({ status: "DRAIN", weight: 50, maxconn: 10 }), "up drain 50% maxconn:10\n");
});

test("reader bounds: the line end must come within 1 KiB; bytes and UTF-8 descriptions are read as sent", () => {
  assert.equal(parseAgentReply(`${"up ".repeat(400)}\n`), undefined, "no line end in the first 1 KiB");
  assert.equal(read(`up${" ".repeat(1000)}\n`).health, "up");
  assert.deepEqual(parseAgentReply(Buffer.from("drain 10%\r\n")), {
    errors: [],
    admin: "drain",
    weightPercent: 10,
  });
  assert.equal(read("down,#Wartungsfenster für VoIP \n").description, "Wartungsfenster für VoIP");
  assert.equal(read("up # \n").description, "");
  assert.deepEqual(read("50%x maxconn:-1 maxconn:2.5\n").errors, ["50%x", "maxconn:-1", "maxconn:2.5"]);
  assert.equal(parseAgentReply(""), undefined);
  assert.deepEqual(parseAgentReply("\n"), { errors: [] }, "an empty line changes nothing");
});
