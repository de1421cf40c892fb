// Lead's interim version; the agent helper may replace it with the same API.
import { connect } from "node:net";
import { type AgentReport, parseAgentReply } from "../agent/reply.ts";

/** One agent-check: connect, send `send`, read one line. No line (or no connection) is no information. */
export function probeAgent(opts: { host: string; port: number; send?: string; timeoutMs: number }): Promise<{ ok: true; report: AgentReport } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    const sock = connect({ host: opts.host, port: opts.port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (r: { ok: true; report: AgentReport } | { ok: false; reason: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, reason: `agent: no reply within ${opts.timeoutMs}ms` }), opts.timeoutMs);
    sock.once("connect", () => {
      if (opts.send !== undefined) sock.write(opts.send);
    });
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]).subarray(0, 1024);
      const report = parseAgentReply(buf);
      if (report) done({ ok: true, report });
      else if (buf.length >= 1024) done({ ok: false, reason: "agent: reply too long" });
    });
    sock.once("end", () => done({ ok: false, reason: "agent: closed without a line ending" }));
    sock.once("error", (err: NodeJS.ErrnoException) => done({ ok: false, reason: `agent: ${err.code ?? err.message}` }));
  });
}
