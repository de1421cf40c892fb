import { connect, createServer } from "node:net";
import { type Running, startCli } from "./cli.ts";

/** One agent-check exchange: connect, optionally send, read until close. */
export function askAgent(port: number, send?: string, host = "127.0.0.1"): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let out = "";
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error("agent did not answer within 2s"));
    }, 2000);
    s.on("connect", () => {
      if (send !== undefined) s.write(send);
    });
    s.on("data", (d) => {
      out += d;
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

/** Starts `trunkline agent` and waits until it listens; returns its port. */
export async function startAgent(args: string[]): Promise<{ proc: Running; port: number }> {
  const proc = startCli(["agent", ...args]);
  const l = await proc.waitFor((x) => x.msg === "agent listening");
  const port = Number(String(l.listen).split(":").pop());
  return { proc, port };
}

export async function untilReply(
  port: number,
  want: RegExp,
  timeoutMs = 3000,
  host = "127.0.0.1",
): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < end) {
    last = await askAgent(port, undefined, host);
    if (want.test(last)) return last;
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error(`agent reply ${JSON.stringify(last)} never matched ${want}`);
}

/** A stand-in agent on loopback that answers every poll with `reply` and counts the polls. */
export async function replyingAgent(
  reply = "up ready\n",
): Promise<{ port: number; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const srv = createServer((sock) => {
    hits++;
    sock.on("error", () => {});
    sock.end(reply);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    port: (srv.address() as { port: number }).port,
    hits: () => hits,
    close: () => new Promise((r) => srv.close(() => r())),
  };
}
