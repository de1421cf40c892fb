/**
 * Hostile clients of `trunkline agent` (the real process): it must answer or close within a
 * bound and never keep the slots of clients that are gone.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startAgent } from "../helpers/agent.ts";
import { onCleanup, sleep } from "../helpers/peer-attack.ts";

/** One agent check from `localAddress`: the reply, read until the agent closes (2 s bound). */
function ask(port: number, localAddress = "127.0.0.1"): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, localAddress });
    let out = "";
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within 2s from ${localAddress}; got ${JSON.stringify(out)}`));
    }, 2000);
    s.on("connect", () => s.write("be/app1\n"));
    s.on("data", (b) => {
      out += b;
    });
    s.on("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on("close", () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

/** One connection that is reset as soon as it is up; resolves when it is gone. */
function resetAtOnce(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const t = setTimeout(() => {
      s.destroy();
      resolve();
    }, 3000);
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(t);
      resolve();
    });
    s.once("connect", () => s.resetAndDestroy());
  });
}

// Covers (passes): 1000 connections reset at once, then the 64 slots of one address held by
// clients that read the reply but never close: another address is answered at once, and 2.5 s
// later (past the 2 s connection deadline) the first address is answered again every time: no
// slot leaks to a reset or to a client that never closes.
test("agent server: a reset flood and half-open clients neither block other addresses nor leak slots", async () => {
  const d = mkdtempSync(join(tmpdir(), "tl-peeratk-agent-"));
  onCleanup(() => rmSync(d, { recursive: true, force: true }));
  const f = join(d, "state.json");
  writeFileSync(f, '{"status":"UP"}');
  const { proc, port } = await startAgent(["--listen", "127.0.0.1:0", "--state-file", f]);
  onCleanup(() => proc.kill());

  for (let batch = 0; batch < 10; batch++)
    await Promise.all(Array.from({ length: 100 }, () => resetAtOnce(port)));

  const held: Socket[] = [];
  onCleanup(() => {
    for (const s of held) s.destroy();
  });
  const replies = await Promise.all(
    Array.from(
      { length: 64 },
      () =>
        new Promise<string>((resolve) => {
          const s = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
          held.push(s);
          let out = "";
          const t = setTimeout(() => resolve(out), 3000);
          s.on("error", () => {});
          s.on("data", (b) => {
            out += b;
          });
          s.on("end", () => {
            clearTimeout(t);
            resolve(out); // the agent's FIN: we never send ours
          });
        }),
    ),
  );
  assert.equal(replies.filter((r) => r === "up ready\n").length, 64, "every held client had its reply");

  const turnedAway = await ask(port).catch(() => "");
  assert.equal(turnedAway, "", "a 65th client from the same address is turned away while 64 are held");
  const t0 = Date.now();
  assert.equal(await ask(port, "127.0.0.2"), "up ready\n");
  assert.ok(Date.now() - t0 < 1000, `another address answered in ${Date.now() - t0} ms`);

  await sleep(2500);
  for (let i = 0; i < 10; i++)
    assert.equal(await ask(port), "up ready\n", `poll ${i} from 127.0.0.1 after the deadline`);
  assert.equal(proc.child.exitCode, null, "the agent is still running");
});
