import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startAgent } from "../helpers/agent.ts";
import { runCli } from "../helpers/cli.ts";
import { serversState, startHaproxy, stat } from "../helpers/haproxy.ts";
import { freePort } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

// HAProxy's srv_admin_state bits (include/haproxy/server-t.h): forced maint 0x01, forced drain 0x08.
const FMAINT = 0x01;
const FDRAIN = 0x08;
// srv_op_state: 0 stopped (DOWN), 2 running (UP).

test("HAProxy 2.6 reads `trunkline agent`: UP, DRAIN, UP after DRAIN, DOWN, MAINT, weight and maxconn", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tl-agent-ha-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const f1 = join(dir, "s1.json");
  const f2 = join(dir, "s2.json");
  writeFileSync(f1, '{"status":"UP"}');
  writeFileSync(f2, '{"status":"READY","weight":50}');
  const a1 = await startAgent(["--listen", "127.0.0.1:0", "--state-file", f1]);
  const a2 = await startAgent(["--listen", "127.0.0.1:0", "--state-file", f2]);
  cleanup.push(
    () => a1.proc.kill(),
    () => a2.proc.kill(),
  );
  const dummy = createServer((s) => s.destroy());
  await new Promise<void>((r) => dummy.listen(0, "127.0.0.1", () => r()));
  cleanup.push(() => new Promise<void>((r) => dummy.close(() => r())));
  const dport = (dummy.address() as { port: number }).port;
  const fport = await freePort();
  const ha = await startHaproxy(`frontend fe
  bind 127.0.0.1:${fport}
  default_backend be

backend be
  # Both servers send agent-send: on HAProxy 2.6.12 a server without it, listed after one
  # with it, timed out (L7TOUT) against an agent that answers at once; seen in this test.
  balance leastconn
  server s1 127.0.0.1:${dport} weight 100 agent-check agent-addr 127.0.0.1 agent-port ${a1.port} agent-inter 100ms agent-send "be/s1\\n"
  server s2 127.0.0.1:${dport} weight 50 agent-check agent-addr 127.0.0.1 agent-port ${a2.port} agent-inter 100ms agent-send "be/s2\\n"
`);
  cleanup.push(ha.close);

  // Operational and admin state from `show servers state`; weight (uweight) and maxconn (slim) from `show stat`.
  const until = async (
    what: string,
    pred: (s1: Record<string, string>, s2: Record<string, string>) => boolean,
  ) => {
    const end = Date.now() + 10_000;
    let last: Record<string, Record<string, string>> = {};
    while (Date.now() < end) {
      const state = await serversState(ha, "be");
      const st = await stat(ha);
      last = {
        s1: {
          ...state.s1,
          uweight: st["be/s1"]?.uweight ?? "",
          slim: st["be/s1"]?.slim ?? "",
          last_agt: st["be/s1"]?.last_agt ?? "",
        },
        s2: { ...state.s2, uweight: st["be/s2"]?.uweight ?? "", slim: st["be/s2"]?.slim ?? "" },
      };
      if (state.s1 && state.s2 && pred(last.s1!, last.s2!)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`HAProxy never showed ${what}: ${JSON.stringify(last)}\n${ha.logs()}`);
  };
  const admin = (s: Record<string, string>) => Number(s.srv_admin_state);
  const op = (s: Record<string, string>) => Number(s.srv_op_state);

  await until(
    "s1 UP weight 100, s2 weight 25 (50% of 50)",
    (s1, s2) => op(s1) === 2 && admin(s1) === 0 && s1.uweight === "100" && s2.uweight === "25",
  );

  assert.equal((await runCli(["agent", "set", "DRAIN", "--state-file", f1])).code, 0);
  await until("s1 DRAIN", (s1) => (admin(s1) & FDRAIN) !== 0 && op(s1) === 2);

  assert.equal((await runCli(["agent", "set", "UP", "--state-file", f1])).code, 0);
  await until("s1 back in service after DRAIN", (s1) => admin(s1) === 0 && op(s1) === 2);

  a1.proc.child.kill("SIGUSR2");
  await until("s1 DOWN (SIGUSR2)", (s1) => op(s1) === 0);
  a1.proc.child.kill("SIGUSR1");
  await until("s1 UP (SIGUSR1)", (s1) => op(s1) === 2 && admin(s1) === 0);

  assert.equal((await runCli(["agent", "set", "MAINT", "--state-file", f1])).code, 0);
  await until("s1 MAINT", (s1) => (admin(s1) & FMAINT) !== 0);
  // `down ready`: DOWN after MAINT must show DOWN, not stay in maintenance.
  assert.equal((await runCli(["agent", "set", "DOWN", "--state-file", f1])).code, 0);
  await until("s1 DOWN and out of MAINT", (s1) => admin(s1) === 0 && op(s1) === 0);
  assert.equal(
    (await runCli(["agent", "set", "UP", "--weight", "40", "--maxconn", "7", "--state-file", f1])).code,
    0,
  );
  await until(
    "s1 UP, weight 40 after MAINT",
    // last_agt is empty while HAProxy has a check in progress: read it in the same poll.
    (s1) =>
      admin(s1) === 0 &&
      op(s1) === 2 &&
      s1.uweight === "40" &&
      s1.slim === "7" &&
      /via agent : up/.test(String(s1.last_agt)),
  );
});
