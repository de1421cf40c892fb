import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";

export const ETCD_BIN = "/usr/bin/etcd";

/** A free loopback port (bound, read, released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface TestEtcd {
  /** http://127.0.0.1:PORT, the client URL. */
  readonly endpoint: string;
  readonly dataDir: string;
  /** A client for the test's own reads and writes. */
  readonly client: Etcd3;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); the data dir stays. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data dir; resolves when it answers. */
  start(): Promise<void>;
  put(key: string, value: string): Promise<number>;
  del(key: string): Promise<void>;
  /** Compacts the history up to the current revision; returns it. */
  compact(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A real etcd (Debian's etcd-server) on free loopback ports with a temporary data dir; it
 * can be stopped and started again on the same ports and data, as a crashed member would.
 */
export async function startEtcd(): Promise<TestEtcd> {
  const dataDir = mkdtempSync(join(tmpdir(), "trunkline-etcd-"));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | undefined;
  let stderr = "";
  const client = new Etcd3({ hosts: endpoint, dialTimeout: 2_000 });

  const waitReady = async (): Promise<void> => {
    const end = Date.now() + 20_000;
    for (;;) {
      if (child?.exitCode !== null && child?.exitCode !== undefined)
        throw new Error(`etcd exited with ${child.exitCode}:\n${stderr.slice(-2000)}`);
      try {
        const ok = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
        if (ok.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > end) throw new Error(`etcd did not answer within 20 s:\n${stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const start = async (): Promise<void> => {
    // Already running: a second etcd on the same ports would fail to bind while the first,
    // no longer tracked, kept its stderr pipe (and so the test process) alive for good.
    if (child !== undefined && child.exitCode === null && child.signalCode === null) return waitReady();
    stderr = "";
    child = spawn(
      ETCD_BIN,
      [
        "--name",
        "t",
        "--data-dir",
        dataDir,
        "--listen-client-urls",
        endpoint,
        "--advertise-client-urls",
        endpoint,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `t=${peer}`,
        "--log-level",
        "error",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8_000);
    });
    await waitReady();
  };

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill("SIGTERM");
    const t = setTimeout(() => c.kill("SIGKILL"), 5_000);
    await gone;
    clearTimeout(t);
  };

  await start();
  return {
    endpoint,
    dataDir,
    client,
    stop,
    start,
    async put(key, value) {
      const r = await client.put(key).value(value).exec();
      return Number(r.header.revision);
    },
    async del(key) {
      await client.delete().key(key).exec();
    },
    async compact() {
      const r = await client.get("\0").exec();
      const rev = Number(r.header.revision);
      await client.kv.compact({ revision: String(rev), physical: true });
      return rev;
    },
    async close() {
      client.close();
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
