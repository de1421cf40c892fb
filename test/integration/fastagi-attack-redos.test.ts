/**
 * Routing by header regexes: what bounds the work one hostile header costs? The header is
 * capped at 64 KiB; a single variable may take nearly all of it, and the route's regexes run
 * on the proxy's only thread.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** Largest gap between ticks of a 10 ms timer while `during` runs: how long the thread was blocked. */
async function maxStall<T>(during: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let worst = 0;
  const t = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  try {
    const result = await during();
    return { result, stallMs: worst };
  } finally {
    clearInterval(t);
  }
}

// Fixed (router.ts MATCH_MAX: longer values match no pattern): one session's header must not stall every other session (each state bounded; a 64 KiB header is "too long" only past 64 KiB) — a 30,000-byte agi_calleridname (well inside the header cap) matched against an ordinary, non-catastrophic "contains" pattern (`.*VIP`, quadratic) blocks the proxy's thread for 1.5–2.4 s here (1,455 / 1,598 ms idle, 2,359 ms beside two CPU hogs; 10 s for a 64,000-byte value); no bound on a value's length or the match's work exists
test("a long header value against an ordinary unanchored header regex does not stall the proxy", async () => {
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const p = await startProxy(`
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes:
  - { listener: agi, match: { header: { agi_calleridname: ".*VIP" } }, pool: vip }
  - { listener: agi, pool: main }
pools:
  vip: { servers: [ { address: 127.0.0.1:${up.port} } ] }
  main: { servers: [ { address: 127.0.0.1:${up.port} } ] }
`);
  cleanup.push(p.close);
  const { result, stallMs } = await maxStall(() =>
    agiCall({
      port: p.port(),
      url: "agi://pbx/x",
      vars: { agi_calleridname: "A".repeat(30_000) },
      timeoutMs: 20_000,
    }),
  );
  assert.equal(result.status, "SUCCESS");
  assert.equal((await p.session(0)).pool, "main");
  assert.ok(stallMs < 500, `the proxy's thread was blocked for ${Math.round(stallMs)} ms by one header`);
});
