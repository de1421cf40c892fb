import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { CheckRunner } from "../agent/check-runner.ts";
import type { AgentState } from "../agent/reply.ts";
import { AgentServer } from "../agent/server.ts";
import { FALLBACK_STATE, readStateFile, STATUSES, type Status, saveStateAtomic } from "../agent/state.ts";
import { parseHostPort } from "../core/address.ts";
import { parseDuration } from "../core/duration.ts";
import { errorMessage } from "../core/errors.ts";
import { createLogger } from "../observe/logger.ts";
import { one, parseArgs } from "./args.ts";

export const usage = `trunkline agent [--listen host:port] [--state-file F] [--pid-file F] [--check CMD] [--check-interval 2s] [--check-timeout 5s]
trunkline agent set STATUS [--weight N] [--maxconn N] [--state-file F] [--pid-file F]
  STATUS: ${STATUSES.join(", ")}; environment: HAPGENT_IP, HAPGENT_PORT, HAPGENT_STATE_FILE (flags win)`;

const DEFAULT_STATE_FILE = "/etc/hapgent/state.json";

function stateFile(args: ReturnType<typeof parseArgs>): string {
  return one(args, "state-file") ?? process.env.HAPGENT_STATE_FILE ?? DEFAULT_STATE_FILE;
}

function pidFile(args: ReturnType<typeof parseArgs>, state: string): string {
  return one(args, "pid-file") ?? `${state}.pid`;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "set") return set(argv.slice(1));
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv, {
      options: ["listen", "state-file", "pid-file", "check", "check-interval", "check-timeout"],
    });
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\nusage: ${usage}\n`);
    return 2;
  }
  const listenText =
    one(args, "listen") ?? `${process.env.HAPGENT_IP ?? "0.0.0.0"}:${process.env.HAPGENT_PORT ?? "9777"}`;
  const listen = parseHostPort(listenText, 9777);
  if (typeof listen === "string") {
    process.stderr.write(`--listen: ${listen}\n`);
    return 2;
  }
  const interval = parseDuration(one(args, "check-interval") ?? "2s");
  const checkTimeout = parseDuration(one(args, "check-timeout") ?? "5s");
  if (interval === undefined || interval < 100 || checkTimeout === undefined) {
    process.stderr.write("--check-interval and --check-timeout take durations (at least 100ms)\n");
    return 2;
  }
  const file = stateFile(args);
  const pids = pidFile(args, file);
  const { log, close: closeLog } = createLogger({ level: "info", appName: "trunkline-agent" });
  const load = (why: string): AgentState => {
    const r = readStateFile(file);
    if (r.ok) return r.state;
    log.warn({ event: "agent_state", reason: r.reason, why }, "state file unusable: reporting MAINT");
    return { ...FALLBACK_STATE };
  };
  const agent = new AgentServer(listen, load("start"), log);
  try {
    await agent.start();
  } catch (err) {
    log.error({ err: errorMessage(err) }, "agent cannot listen");
    await closeLog();
    return 1;
  }
  try {
    writeFileSync(pids, `${process.pid}\n`);
  } catch (err) {
    log.warn(
      { file: pids, err: errorMessage(err) },
      "cannot write the pid file: `trunkline agent set` will not reach this agent",
    );
  }
  let check: CheckRunner | undefined;
  const cmd = one(args, "check");
  if (cmd !== undefined) {
    check = new CheckRunner(cmd, interval, checkTimeout, (failing) => agent.setOverride(failing));
    check.start();
  }
  const setStatus = (status: Status, why: string) => {
    const next = { ...agent.state, status };
    try {
      saveStateAtomic(file, next);
    } catch (err) {
      log.error({ file, err: errorMessage(err) }, "cannot save the state file");
    }
    agent.setState(next, why);
  };
  return await new Promise<number>((resolve) => {
    process.on("SIGUSR1", () => setStatus("UP", "SIGUSR1"));
    process.on("SIGUSR2", () => setStatus("DOWN", "SIGUSR2"));
    process.on("SIGHUP", () => agent.setState(load("SIGHUP"), "SIGHUP: state file reloaded"));
    const stop = async () => {
      check?.stop();
      await agent.close();
      try {
        if (readFileSync(pids, "utf8").trim() === String(process.pid)) unlinkSync(pids);
      } catch {}
      await closeLog();
      resolve(0);
    };
    process.once("SIGINT", () => void stop());
    process.once("SIGTERM", () => void stop());
  });
}

/** `agent set`: write the file atomically, then tell the running agent (SIGHUP via its pid file). */
async function set(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv, { options: ["weight", "maxconn", "state-file", "pid-file"] });
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\nusage: ${usage}\n`);
    return 2;
  }
  const status = args.positionals[0]?.toUpperCase();
  if (!status || !(STATUSES as readonly string[]).includes(status)) {
    process.stderr.write(`usage: ${usage}\n`);
    return 2;
  }
  const file = stateFile(args);
  const prev = readStateFile(file);
  const state: AgentState = { status: status as Status };
  const num = (name: string, max: number): number | undefined | string => {
    const v = one(args, name);
    if (v === undefined)
      return prev.ok ? (prev.state as unknown as Record<string, number | undefined>)[name] : undefined;
    if (!/^\d+$/.test(v) || Number(v) > max) return `--${name} must be an integer from 0 to ${max}`;
    return Number(v);
  };
  const weight = num("weight", 255);
  const maxconn = num("maxconn", 65535);
  for (const v of [weight, maxconn]) {
    if (typeof v === "string") {
      process.stderr.write(`${v}\n`);
      return 2;
    }
  }
  if (weight !== undefined) state.weight = weight as number;
  if (maxconn !== undefined) state.maxconn = maxconn as number;
  try {
    saveStateAtomic(file, state);
  } catch (err) {
    process.stderr.write(`cannot write ${file}: ${errorMessage(err)}\n`);
    return 1;
  }
  const pids = pidFile(args, file);
  let pid: number | undefined;
  try {
    pid = Number(readFileSync(pids, "utf8").trim());
  } catch {}
  if (!pid || !Number.isInteger(pid)) {
    process.stdout.write(
      `${file}: ${JSON.stringify(state)} (no running agent found through ${pids}; it will read the file when it starts)\n`,
    );
    return 0;
  }
  const notAgent = notAnAgent(pid);
  if (notAgent !== undefined) {
    process.stdout.write(
      `${file}: ${JSON.stringify(state)} (no running agent: ${notAgent}; it will read the file when it starts)\n`,
    );
    return 0;
  }
  try {
    process.kill(pid, "SIGHUP");
  } catch (err) {
    process.stdout.write(
      `${file}: ${JSON.stringify(state)} (agent pid ${pid} not reachable: ${errorMessage(err)})\n`,
    );
    return 0;
  }
  process.stdout.write(`${file}: ${JSON.stringify(state)}; agent ${pid} told\n`);
  return 0;
}

/**
 * A stale pid file can name a process that is not an agent any more, and SIGHUP ends most
 * programs: on Linux, look at its command line first. Elsewhere, trust the pid file.
 */
function notAnAgent(pid: number): string | undefined {
  if (!existsSync("/proc/self/cmdline")) return undefined;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return `process ${pid} from the pid file is not running`;
  }
  // `trunkline agent` (or main.js agent): not any program with "agent" in its command line
  // (ssh-agent, gpg-agent), which a stale pid file may name and SIGHUP would disturb.
  const argv = cmdline.split("\0");
  const trunkline = argv.some((a) => /(^|\/)(trunkline|main\.[jt]s)$/.test(a));
  return trunkline && argv.includes("agent")
    ? undefined
    : `process ${pid} from the pid file is not an agent (stale pid file?)`;
}
