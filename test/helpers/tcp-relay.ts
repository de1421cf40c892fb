// A TCP relay on loopback that a test can cut and restore: put it between a proxy and a
// peer (etcd) to make a network cut on demand while the peer itself stays up.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { freePort } from "./ports.ts";

export interface TcpRelay {
  /** The relay's own port on 127.0.0.1 (the same across cut and restore). */
  readonly port: number;
  /** Connections accepted since start. */
  readonly accepted: number;
  /** Client connections relayed now. */
  readonly open: number;
  /** True between cut() and restore(). */
  readonly isCut: boolean;
  /**
   * Stops accepting (the port is closed: a connect is refused) and resets every relayed
   * connection both ways; resolves once the listener is closed.
   */
  cut(): Promise<void>;
  /** Listens again on the same port; resolves once it accepts. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Binds `server` to 127.0.0.1:port; a port still held for a moment is tried again (at most 50 times, 20 ms apart). */
async function listen(server: Server, port: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once("error", onError);
        server.listen(port, "127.0.0.1", () => {
          server.off("error", onError);
          resolve();
        });
      });
      return;
    } catch (err) {
      if (attempt >= 50 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** A relay from a free loopback port (outside the ephemeral range) to target 127.0.0.1:targetPort. */
export async function startTcpRelay(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpRelay> {
  const port = await freePort();
  const pairs = new Set<{ a: Socket; b: Socket }>();
  let accepted = 0;
  let isCut = false;
  let closed = false;

  const onConnection = (a: Socket) => {
    accepted++;
    if (isCut) {
      a.resetAndDestroy();
      return;
    }
    const b = createConnection({ host: targetHost, port: targetPort });
    const pair = { a, b };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      if (!a.destroyed) a.destroy();
      if (!b.destroyed) b.destroy();
    };
    a.on("error", end).on("close", end);
    b.on("error", end).on("close", end);
    a.pipe(b);
    b.pipe(a);
  };

  let server = createServer(onConnection);
  await listen(server, port);

  const stop = async (): Promise<void> => {
    const s = server;
    const closedP = new Promise<void>((r) => s.close(() => r()));
    for (const { a, b } of [...pairs]) {
      // An RST both ways: each side sees its connection reset, as by a cut link that came back.
      if (!a.destroyed) a.resetAndDestroy();
      if (!b.destroyed) b.resetAndDestroy();
    }
    pairs.clear();
    await closedP;
  };

  return {
    port,
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    get isCut() {
      return isCut;
    },
    async cut() {
      if (isCut || closed) return;
      isCut = true;
      await stop();
    },
    async restore() {
      if (!isCut || closed) return;
      server = createServer(onConnection);
      await listen(server, port);
      isCut = false;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!isCut) await stop();
    },
  };
}
