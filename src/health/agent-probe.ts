import { connect } from "node:net";
import { AGENT_REPLY_MAX_BYTES, type AgentReport, parseAgentReply } from "../agent/reply.ts";

export type AgentProbeResult = { ok: true; report: AgentReport } | { ok: false; reason: string };

/**
 * One agent-check as HAProxy makes it: connect, write `send` if given, read one line.
 * A reply without CR/LF (even if the agent then closes), a refused connection or a timeout
 * is "no information" (ok: false), never a DOWN: the caller keeps what it knew.
 */
export function probeAgent(opts: {
  host: string;
  port: number;
  send?: string;
  timeoutMs: number;
}): Promise<AgentProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ host: opts.host, port: opts.port });
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (r: AgentProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, reason: `agent: no reply line within ${opts.timeoutMs}ms` }),
      opts.timeoutMs,
    );
    sock.once("connect", () => {
      if (opts.send !== undefined) sock.write(opts.send);
    });
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]).subarray(0, AGENT_REPLY_MAX_BYTES);
      const report = parseAgentReply(buf);
      if (report) done({ ok: true, report });
      else if (buf.length >= AGENT_REPLY_MAX_BYTES)
        done({ ok: false, reason: `agent: no line end in the first ${AGENT_REPLY_MAX_BYTES} bytes` });
    });
    sock.once("end", () => done({ ok: false, reason: "agent: closed without a line end (no information)" }));
    sock.once("error", (err: NodeJS.ErrnoException) =>
      done({ ok: false, reason: `agent: ${err.code ?? err.message}` }),
    );
  });
}
