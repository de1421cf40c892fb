/**
 * `trunkline demo [--listen 127.0.0.1:4574]`: runs the demo FastAGI server until SIGINT or
 * SIGTERM, logging one JSON line per session on stdout.
 */
import { formatHostPort, parseHostPort } from "../core/address.ts";
import { errorMessage } from "../core/errors.ts";
import type { Log, LogFn } from "../core/types.ts";
import { startDemoServer } from "../protocols/fastagi/demo-server.ts";
import { one, parseArgs } from "./args.ts";

export const usage = "trunkline demo [--listen 127.0.0.1:4574]";

const DEFAULT_LISTEN = "127.0.0.1:4574";
const LEVELS = ["trace", "debug", "info", "warn", "error"] as const;

/**
 * JSON lines on stdout, info and above. A few lines of our own rather than the proxy's
 * logger: the demo has no config and no syslog.
 */
function lineLog(bindings: Record<string, unknown> = {}): Log {
  const fn =
    (level: (typeof LEVELS)[number]): LogFn =>
    (a: object | string, msg?: string) => {
      if (LEVELS.indexOf(level) < LEVELS.indexOf("info")) return;
      const fields = typeof a === "string" ? { msg: a } : { ...a, msg: msg ?? "" };
      process.stdout.write(
        `${JSON.stringify({ level, time: new Date().toISOString(), ...bindings, ...fields })}\n`,
      );
    };
  return {
    trace: fn("trace"),
    debug: fn("debug"),
    info: fn("info"),
    warn: fn("warn"),
    error: fn("error"),
    child: (more) => lineLog({ ...bindings, ...more }),
  };
}

export async function main(argv: string[]): Promise<number> {
  let listen: string;
  try {
    const args = parseArgs(argv, {
      options: ["listen"],
      flags: ["help"],
      aliases: { "-l": "listen", "-h": "help" },
    });
    if (args.flags.has("help")) {
      process.stdout.write(`usage: ${usage}\n`);
      return 0;
    }
    if (args.positionals.length > 0) throw new Error(`unexpected argument "${args.positionals[0]}"`);
    listen = one(args, "listen") ?? DEFAULT_LISTEN;
  } catch (err) {
    process.stderr.write(`trunkline demo: ${errorMessage(err)}\nusage: ${usage}\n`);
    return 2;
  }
  const hp = parseHostPort(listen, 4574);
  if (typeof hp === "string") {
    process.stderr.write(`trunkline demo: --listen: ${hp}\n`);
    return 2;
  }
  const log = lineLog({ component: "demo" });
  let server: Awaited<ReturnType<typeof startDemoServer>>;
  try {
    server = await startDemoServer({ host: hp.host, port: hp.port, log });
  } catch (err) {
    process.stderr.write(`trunkline demo: cannot listen on ${formatHostPort(hp)}: ${errorMessage(err)}\n`);
    return 1;
  }
  log.info({ listen: formatHostPort({ host: hp.host, port: server.port }) }, "demo FastAGI server listening");
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  log.info({ signal }, "demo FastAGI server stopping");
  await server.close();
  return 0;
}
