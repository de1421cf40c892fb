// SIPp (Debian sip-tester) as a caller or answerer for SIP tests: runs it on 127.0.0.1 in a
// temp dir, bounded by a timeout (killed when it runs over), and reads the successful and
// failed call counts from its statistics file (-trace_stat), the screen output as a fallback.
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./ports.ts";

export const SIPP = "/usr/bin/sipp";
/** test/fixtures/sipp/: the scenario files. */
export const SIPP_SCENARIOS = fileURLToPath(new URL("../fixtures/sipp/", import.meta.url));

export interface SippOptions {
  /** A built-in scenario (`uac`, `uas`: -sn) or a path to an XML scenario file (-sf). */
  readonly scenario: string;
  /** The local UDP port SIPp binds on 127.0.0.1. */
  readonly localPort: number;
  /** Where a caller sends (its positional target); answerers need none. */
  readonly remote?: { readonly host: string; readonly port: number };
  /** -m: stop after this many calls. */
  readonly calls?: number;
  /** -r: new calls a second. */
  readonly rate?: number;
  /** Killed (SIGKILL) when still running after this long. */
  readonly timeoutMs: number;
  readonly extraArgs?: readonly string[];
}

export interface SippResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** It ran over timeoutMs and was killed. */
  readonly timedOut: boolean;
  readonly successful: number;
  readonly failed: number;
  readonly retransmissions: number;
  /** The last 16 KB of stdout and stderr (SIPp's final screens). */
  readonly output: string;
  /** The unexpected messages it logged (-trace_err), at most 16 KB. */
  readonly errors: string;
  readonly ms: number;
}

export interface SippRun {
  readonly done: Promise<SippResult>;
  /** Asks SIPp to stop (SIGUSR1: no new calls, let the running ones end), killed after graceMs. */
  stop(graceMs?: number): Promise<SippResult>;
  /** Kills it at once. */
  kill(): Promise<SippResult>;
}

const KEEP = 16 * 1024;

export function startSipp(o: SippOptions): SippRun {
  if (!existsSync(SIPP))
    throw new Error(`${SIPP} is missing: scripts/ensure-test-peers.sh installs sip-tester`);
  const dir = mkdtempSync(join(tmpdir(), "tl-sipp-"));
  const stat = join(dir, "stat.csv");
  const errFile = join(dir, "errors.log");
  const args = [
    ...(o.scenario.endsWith(".xml") ? ["-sf", o.scenario] : ["-sn", o.scenario]),
    ...(o.remote ? [`${o.remote.host}:${o.remote.port}`] : []),
    ...["-i", "127.0.0.1", "-p", String(o.localPort), "-t", "u1", "-nostdin"],
    ...(o.calls === undefined ? [] : ["-m", String(o.calls)]),
    ...(o.rate === undefined ? [] : ["-r", String(o.rate)]),
    // 4 MiB socket buffers (sip.md): at high rates the default ones drop packets.
    ...["-buff_size", "4194304", "-trace_stat", "-stf", stat, "-fd", "1"],
    ...["-trace_err", "-error_file", errFile],
    ...(o.extraArgs ?? []),
  ];
  const started = Date.now();
  const child: ChildProcess = spawn(SIPP, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (d: Buffer) => {
    out = (out + d.toString("latin1")).slice(-KEEP);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, o.timeoutMs);
  const done = new Promise<SippResult>((resolve) => {
    let spawnError = "";
    child.once("error", (err) => {
      spawnError = `spawn: ${err.message}\n`;
    });
    child.once("close", (exitCode, signal) => {
      clearTimeout(timer);
      const counts = statCounts(stat) ?? screenCounts(out);
      let errors = "";
      try {
        errors = withoutOwnStalls(readFileSync(errFile, "latin1")).slice(0, KEEP);
      } catch {
        // no unexpected message, no file
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({
        exitCode,
        signal,
        timedOut,
        ...counts,
        output: spawnError + out,
        errors,
        ms: Date.now() - started,
      });
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    done,
    stop(graceMs = 5_000) {
      if (running()) {
        child.kill("SIGUSR1");
        const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
        void done.then(() => clearTimeout(t));
      }
      return done;
    },
    kill() {
      if (running()) child.kill("SIGKILL");
      return done;
    },
  };
}

/** Runs SIPp to its end (or its timeout). */
export function runSipp(o: SippOptions): Promise<SippResult> {
  return startSipp(o).done;
}

type Counts = Pick<SippResult, "successful" | "failed" | "retransmissions">;

/** The cumulative counts in the last row of the -trace_stat CSV (`;`-separated, with a header). */
function statCounts(file: string): Counts | undefined {
  let text: string;
  try {
    text = readFileSync(file, "latin1");
  } catch {
    return undefined;
  }
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const header = lines[0]?.split(";");
  const last = lines.length > 1 ? lines.at(-1)?.split(";") : undefined;
  if (header === undefined || last === undefined) return undefined;
  const col = (name: string) => Number(last[header.indexOf(name)] ?? Number.NaN);
  const c = {
    successful: col("SuccessfulCall(C)"),
    failed: col("FailedCall(C)"),
    retransmissions: col("Retransmissions(C)"),
  };
  return Object.values(c).every(Number.isInteger) ? c : undefined;
}

/** The counts from the last statistics screen printed: `Successful call | P | C`. */
function screenCounts(out: string): Counts {
  const last = (label: string) => {
    const all = [...out.matchAll(new RegExp(`${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`, "g"))];
    return Number(all.at(-1)?.[1] ?? -1);
  };
  return { successful: last("Successful call"), failed: last("Failed call"), retransmissions: -1 };
}

/**
 * Waits until a SIPp answerer on 127.0.0.1:port answers OPTIONS with 200 (uas-rr.xml does),
 * sending a fresh probe every 100 ms: SIPp prints nothing a test can wait on when its socket
 * is bound. Each answered probe counts as one call of the answerer.
 */
export async function waitForSippAnswer(port: number, timeoutMs = 5_000): Promise<void> {
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const local = sock.address().port;
  let n = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const probe = () => {
        n++;
        const msg =
          `OPTIONS sip:probe@127.0.0.1:${port} SIP/2.0\r\n` +
          `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bKprobe${local}x${n}\r\n` +
          `From: <sip:probe@127.0.0.1:${local}>;tag=p${n}\r\nTo: <sip:probe@127.0.0.1:${port}>\r\n` +
          `Call-ID: probe-${local}-${n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
        sock.send(msg, port, "127.0.0.1");
      };
      const every = setInterval(probe, 100);
      const limit = setTimeout(() => {
        clearInterval(every);
        reject(new Error(`SIPp on port ${port} did not answer OPTIONS within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.on("message", (m) => {
        if (!m.toString("latin1").startsWith("SIP/2.0 200")) return;
        clearInterval(every);
        clearTimeout(limit);
        resolve();
      });
      probe();
    });
  } finally {
    sock.close();
  }
}

/**
 * A port free on 127.0.0.1 over UDP and TCP for SIPp's -p (it binds both with -t t1), taken
 * outside the ephemeral range and never twice in a process: a port released by a `:0` bind
 * could be handed again before SIPp binds it (CI saw two answerers given one port).
 */
export function freeUdpPort(): Promise<number> {
  return freePort("127.0.0.1", true);
}

/**
 * SIPp's error log without its own watchdog warnings ("Overload warning: the minor watchdog
 * timer 500ms has been tripped"): those say SIPp's loop was stalled (a CI run with the suite's
 * files side by side: 532 ms), not that a peer sent it anything unexpected. A log left with
 * its heading only is empty.
 */
function withoutOwnStalls(log: string): string {
  const rest = log.replace(
    /\d{4}-\d\d-\d\d\t\S+\t\S+: Overload warning: the \w+ watchdog timer [^\n]*?trips remaining\.\s*/g,
    "",
  );
  return rest.trim() === "The following events occurred:" ? "" : rest;
}
