/**
 * `trunkline demo [--listen 127.0.0.1:4574]`: runs the demo FastAGI server until SIGINT or
 * SIGTERM, logging one JSON line per session on stdout.
 */
import { formatHostPort, parseHostPort } from "../core/address.ts";
import { errorMessage } from "../core/errors.ts";
import { createLogger } from "../observe/logger.ts";
import { startDemoServer } from "../protocols/fastagi/demo-server.ts";
import { one, parseArgs } from "./args.ts";

export const usage = "trunkline demo [--listen 127.0.0.1:4574]";

const DEFAULT_LISTEN = "127.0.0.1:4574";
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
  const logger = createLogger({ level: "info", appName: "trunkline-demo" });
  const log = logger.log;
  let server: Awaited<ReturnType<typeof startDemoServer>>;
  try {
    server = await startDemoServer({ host: hp.host, port: hp.port, log });
  } catch (err) {
    process.stderr.write(`trunkline demo: cannot listen on ${formatHostPort(hp)}: ${errorMessage(err)}\n`);
    await logger.close();
    return 1;
  }
  log.info({ listen: formatHostPort({ host: hp.host, port: server.port }) }, "demo FastAGI server listening");
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  log.info({ signal }, "demo FastAGI server stopping");
  await server.close();
  await logger.close();
  return 0;
}
