/**
 * Hostile agents (HAProxy agent-check protocol) polled by a running proxy. What the operator
 * sees: the admin API's server state and agent layer, metrics, log lines.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { adminProxy, everyOnSocket, rawPeer, sleep, waitUntil } from "../helpers/peer-attack.ts";

/** A fastagi pool `main` of one server (never connected to: only the agent is polled). */
const agentConfig = (serverPort: number, agentPort: number, weight = 100) => `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools:
  main:
    health: { interval: 100ms, timeout: 400ms, checks: [ { agent: ${agentPort} } ] }
    servers: [ { address: 127.0.0.1:${serverPort}, weight: ${weight} } ]
`;

function probes(metrics: string, result: "ok" | "fail"): number {
  let n = 0;
  for (const l of metrics.split("\n"))
    if (
      l.startsWith("trunkline_health_probes_total{") &&
      l.includes('check="agent"') &&
      l.includes(`result="${result}"`)
    )
      n += Number(l.split(" ").pop());
  return n;
}

// Covers (passes): after the agent said `drain 50%`, megabytes without a line end, a reply that
// drips forever, silence, and resets are all "no information": the drain and weight stay, every
// probe ends (bounded read, timeout), and the proxy holds no agent socket for good.
test("agent-check: garbage, floods, drips, silence and resets after a drain are no information; no socket is held", async () => {
  let mode = "drain";
  const peer = await rawPeer((s) => {
    switch (mode) {
      case "drain":
        s.end("drain 50%\n");
        break;
      case "flood": {
        // 4 MiB without CR/LF, and never a close
        const chunk = Buffer.alloc(64 * 1024, 0x41);
        everyOnSocket(s, 5, 64, () => s.write(chunk));
        break;
      }
      case "drip":
        everyOnSocket(s, 100, 100, () => s.write("u"));
        break;
      case "silent":
        break;
      case "reset":
        s.resetAndDestroy();
        break;
    }
  });
  const a = await adminProxy(agentConfig(5291, peer.port));
  const addr = "127.0.0.1:5291";
  await waitUntil(
    async () => (await a.server("main", addr))?.state === "drain",
    3000,
    "drained by the agent",
  );
  assert.equal((await a.server("main", addr)).weight, 50);
  let maxOpen = 0;
  for (const m of ["flood", "drip", "silent", "reset"]) {
    mode = m;
    const before = peer.accepted.length;
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      maxOpen = Math.max(maxOpen, peer.open.size);
      await sleep(50);
    }
    assert.ok(
      peer.accepted.length >= before + 2,
      `${m}: the agent is still polled (${peer.accepted.length - before})`,
    );
    const s = await a.server("main", addr);
    assert.equal(s.state, "drain", `${m}: the drain outlives a broken agent`);
    assert.equal(s.weight, 50, `${m}: the weight too`);
    assert.equal(s.layers.agent.down, null, `${m}: no information is not down`);
  }
  assert.ok(maxOpen <= 3, `at most ${maxOpen} agent sockets open at once`);
  await waitUntil(
    () => peer.open.size === 0 || (mode === "reset" && peer.open.size <= 1),
    2000,
    "no socket left",
  );
  assert.ok(probes(await a.metrics(), "fail") >= 8, "each failed poll is counted as no information");
});

// A defect found by attacking the proxy, fixed: `maxconn:` followed by 400 digits is taken as maxconn Infinity (reply.ts uses Number() on an unbounded \d+), so the admin API reports max_sessions null and metrics +Inf.
test("agent-check: an absurd maxconn or weight is read as a finite number or refused, and the API shows numbers", async () => {
  const peer = await rawPeer((s) => s.end(`up maxconn:${"9".repeat(400)} ${"9".repeat(400)}%\n`));
  const a = await adminProxy(agentConfig(5292, peer.port));
  const addr = "127.0.0.1:5292";
  await waitUntil(() => peer.accepted.length >= 2, 3000, "the agent polled");
  await sleep(300);
  const s = await a.server("main", addr);
  // HAProxy caps NN% at 256; the weight must be a number between 0 and 256.
  assert.equal(typeof s.weight, "number", `weight ${JSON.stringify(s.weight)}`);
  assert.ok(s.weight >= 0 && s.weight <= 256);
  assert.equal(
    typeof s.max_sessions,
    "number",
    `max_sessions ${JSON.stringify(s.max_sessions)}, agent layer ${JSON.stringify(s.layers.agent)}`,
  );
  assert.equal(typeof s.layers.agent.maxconn, "number");
  assert.equal(typeof s.layers.agent.weight_percent, "number");
  assert.doesNotMatch(await a.metrics(), /trunkline_server_max_sessions\{[^}]*\} \+?Inf/);
});

// Covers (passes): HAProxy's word rules on hostile words: `maxconn:-1`, a weight without `%`,
// control bytes and hundreds of words: errors are logged, the rest of the line applies, `999999%`
// is capped at 256.
test("agent-check: error words are logged and ignored; 999999% is capped at 256", async () => {
  const words = Array.from({ length: 150 }, (_, i) => `w${i}`).join(" ");
  const peer = await rawPeer((s) => s.end(`maxconn:-1 42 \x07\x1b[2J ${words} up 999999%\n`));
  const a = await adminProxy(agentConfig(5293, peer.port));
  const addr = "127.0.0.1:5293";
  await waitUntil(async () => (await a.server("main", addr))?.weight === 256, 3000, "weight capped at 256");
  const s = await a.server("main", addr);
  assert.equal(s.state, "up");
  assert.equal(s.layers.agent.maxconn, 0, "maxconn:-1 is an error word, not a cap");
  const err = await a.p.waitForLog((r) => r.msg === "agent reports an error", 2000);
  const logged = err.words as string[];
  assert.ok(logged.includes("maxconn:-1") && logged.includes("42"), JSON.stringify(logged.slice(0, 5)));
});
