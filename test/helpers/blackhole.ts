import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";

/**
 * A port whose connects time out: a listening socket (backlog 0) that nobody accepts on,
 * its queue already full, so the kernel drops further SYNs. Node always accepts, hence a
 * tiny python3 listener (python3 is on every machine of this kind; .ci/run checks).
 */
export async function startBlackhole(): Promise<{ port: number; close(): Promise<void> }> {
  const child = spawn("python3", [
    "-c",
    "import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen(0)\nprint(s.getsockname()[1], flush=True)\ntime.sleep(120)\n",
  ]);
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("blackhole did not start")), 5000);
    child.stdout.once("data", (d: Buffer) => {
      clearTimeout(t);
      resolve(Number(String(d).trim()));
    });
    child.once("error", reject);
  });
  const fillers: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = connect({ host: "127.0.0.1", port });
    s.on("error", () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 50));
  return {
    port,
    async close() {
      for (const s of fillers) s.destroy();
      child.kill("SIGKILL");
    },
  };
}

/** A port nothing listens on: connects are refused at once (outside the ephemeral range). */
export { deadPort as refusedPort } from "./ports.ts";
