import { removePidFileIfOurs, writePidFile } from "../app/pid-file.ts";
import { type ProxyLogging, TrunklineProxy } from "../app/proxy.ts";
import {
  findPredecessor,
  migrateReqWarning,
  type Predecessor,
  stopPredecessor,
  takeoverRefusal,
} from "../app/takeover.ts";
import { ConfigError } from "../config/load.ts";
import type { Snapshot } from "../config/types.ts";
import { parseHostPort } from "../core/address.ts";
import { errorMessage } from "../core/errors.ts";
import { reusePortSupported } from "../net/reuse-port.ts";
import { createLogger } from "../observe/logger.ts";
import { startDemoServer } from "../protocols/fastagi/demo-server.ts";
import { one, parseArgs } from "./args.ts";

export const usage =
  "trunkline run -c FILE [--pid-file P [--takeover]] [--demo [--demo-listen 127.0.0.1:4574]]";

function logging(s: Snapshot): ProxyLogging {
  const opts = (snap: Snapshot) => ({
    level: snap.log.level,
    appName: "trunkline",
    ...(snap.log.syslog ? { syslog: { target: snap.log.syslog, facility: snap.log.syslogFacility } } : {}),
  });
  const l = createLogger(opts(s));
  return {
    log: l.log,
    record: l.record,
    reconfigure: (next) => l.reconfigure(opts(next)),
    close: () => l.close(),
    dropped: () => [
      { output: "stdout", lines: l.stdoutStats()?.dropped ?? 0 },
      { output: "syslog", lines: l.syslogDropped() },
    ],
  };
}

/**
 * Runs the proxy until SIGINT/SIGTERM. SIGHUP reloads. The first stop signal drains
 * (stop accepting, wait for sessions up to shutdown_timeout); a second one exits at once.
 */
export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv, {
      options: ["config", "demo-listen", "pid-file"],
      flags: ["demo", "no-watch", "takeover"],
      aliases: { "-c": "config" },
    });
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\nusage: ${usage}\n`);
    return 2;
  }
  const file = one(args, "config") ?? args.positionals[0];
  if (!file) {
    process.stderr.write(`usage: ${usage}\n`);
    return 2;
  }
  const pidFile = one(args, "pid-file");
  let predecessor: Predecessor | undefined;
  if (args.flags.has("takeover")) {
    if (pidFile === undefined) {
      process.stderr.write(`--takeover needs --pid-file (the running proxy's)\nusage: ${usage}\n`);
      return 2;
    }
    const refusal = takeoverRefusal();
    predecessor = refusal === undefined ? findPredecessor(pidFile) : { kind: "refused", reason: refusal };
    if (predecessor.kind === "refused") {
      process.stderr.write(`trunkline: ${predecessor.reason}\n`);
      return 1;
    }
    if (predecessor.kind === "none")
      process.stderr.write(`trunkline: --takeover: ${predecessor.reason}; starting without one\n`);
  }
  let demo: Awaited<ReturnType<typeof startDemoServer>> | undefined;
  if (args.flags.has("demo")) {
    const hp = parseHostPort(one(args, "demo-listen") ?? "127.0.0.1:4574", 4574);
    if (typeof hp === "string") {
      process.stderr.write(`--demo-listen: ${hp}\n`);
      return 2;
    }
    try {
      demo = await startDemoServer({ host: hp.host, port: hp.port });
      process.stderr.write(`demo FastAGI server listening on ${hp.host}:${demo.port}\n`);
    } catch (err) {
      process.stderr.write(`cannot start the demo server: ${errorMessage(err)}\n`);
      return 1;
    }
  }
  let proxy: TrunklineProxy;
  try {
    proxy = await TrunklineProxy.start({ configFile: file, logging, watch: !args.flags.has("no-watch") });
  } catch (err) {
    if (err instanceof ConfigError)
      for (const line of err.message.split("\n")) process.stderr.write(`${line}\n`);
    else process.stderr.write(`trunkline: ${errorMessage(err)}\n`);
    await demo?.close();
    return 1;
  }
  const migrate = reusePortSupported() ? migrateReqWarning() : undefined;
  if (migrate) proxy.events.emit("host.setting", migrate);
  if (predecessor?.kind === "running" && pidFile !== undefined) takeOver(proxy, pidFile, predecessor.pid);
  if (pidFile !== undefined) {
    try {
      writePidFile(pidFile);
    } catch (err) {
      proxy.log.error(
        { event: "pid_file", file: pidFile, err: errorMessage(err) },
        "cannot write the pid file",
      );
    }
  }
  const leave = () => {
    if (pidFile !== undefined) removePidFileIfOurs(pidFile);
  };
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const onHup = () => void proxy.reload("SIGHUP");
    const onStop = (signal: string) => {
      if (stopping) {
        proxy.log.warn({ event: "shutdown", signal }, "second signal: exiting now");
        leave();
        process.exit(1);
      }
      stopping = true;
      const t = proxy.snapshot.shutdownTimeoutMs;
      const deadline = t === undefined ? Number.POSITIVE_INFINITY : Date.now() + t;
      proxy.log.info(
        { event: "shutdown", signal, sessions: proxy.runtime.activeSessions, timeout_ms: t ?? null },
        "stopping: no new sessions; waiting for the ones in flight",
      );
      void (async () => {
        await proxy.shutdown(deadline);
        await demo?.close();
        leave();
        process.removeListener("SIGHUP", onHup);
        resolve(0);
      })();
    };
    process.on("SIGHUP", onHup);
    process.on("SIGINT", () => onStop("SIGINT"));
    process.on("SIGTERM", () => onStop("SIGTERM"));
  });
}

/** Every listener is bound beside the predecessor's: it may stop accepting now. */
function takeOver(proxy: TrunklineProxy, pidFile: string, pid: number): void {
  const r = stopPredecessor(pidFile, pid);
  const fields = {
    event: "takeover",
    pid,
    pid_file: pidFile,
    startup_ms: Math.round(process.uptime() * 1000),
  };
  if (r.kind === "signalled")
    proxy.log.info(fields, `took over: pid ${pid} stops accepting and drains its sessions (SIGTERM)`);
  else proxy.log.warn({ ...fields, reason: r.reason }, "nothing to take over after all");
}
