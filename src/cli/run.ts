import { type ProxyLogging, TrunklineProxy } from "../app/proxy.ts";
import { ConfigError } from "../config/load.ts";
import type { Snapshot } from "../config/types.ts";
import { parseHostPort } from "../core/address.ts";
import { errorMessage } from "../core/errors.ts";
import { createLogger } from "../observe/logger.ts";
import { startDemoServer } from "../protocols/fastagi/demo-server.ts";
import { one, parseArgs } from "./args.ts";

export const usage = "trunkline run -c FILE [--demo [--demo-listen 127.0.0.1:4574]]";

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
      options: ["config", "demo-listen"],
      flags: ["demo", "no-watch"],
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
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const onHup = () => void proxy.reload("SIGHUP");
    const onStop = (signal: string) => {
      if (stopping) {
        proxy.log.warn({ event: "shutdown", signal }, "second signal: exiting now");
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
        process.removeListener("SIGHUP", onHup);
        resolve(0);
      })();
    };
    process.on("SIGHUP", onHup);
    process.on("SIGINT", () => onStop("SIGINT"));
    process.on("SIGTERM", () => onStop("SIGTERM"));
  });
}
