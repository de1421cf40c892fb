// SIPp (Debian sip-tester) as the benchmark's caller and answerers, on 127.0.0.1 over UDP,
// each a tracked child (killed on exit), its statistics written every 250 ms to a CSV file
// that is read while it runs. The approach of test/helpers/sipp.ts, not its code: the bench
// imports nothing from test/.
import { createSocket } from "node:dgram";
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readUdpQueue } from "../../src/net/udp-queue.ts";
import { type Child, launch } from "../lib/children.ts";
import { sleep } from "../lib/wait.ts";
import { parseStat, type StatRow } from "./stat-csv.ts";

export const SIPP = "/usr/bin/sipp";
const FIXTURES = fileURLToPath(new URL("../../test/fixtures/sipp/", import.meta.url));
/** INVITE, 180, 200 echoing Record-Route, ACK, BYE, 200; OPTIONS answered 200. */
export const UAS_SCENARIO = join(FIXTURES, "uas-rr.xml");
/** INVITE, ACK and BYE following the route set; the call is held for -d ms between them. */
export const UAC_SCENARIO = join(FIXTURES, "uac-rr.xml");
/** 4 MiB socket buffers on every side (sip.md): smaller ones drop packets from ~1,500 calls/s. */
export const BUFF_SIZE = 4_194_304;

const COMMON = ["-i", "127.0.0.1", "-t", "u1", "-nostdin", "-buff_size", String(BUFF_SIZE)];

/** A SIPp process and its statistics file. */
export interface Sipp {
  child: Child;
  port: number;
  stat: StatFile;
}

/** Reads a growing statistics file: its header once, then only its tail (rows are < 1 KB). */
export class StatFile {
  readonly path: string;
  private header = "";

  constructor(path: string) {
    this.path = path;
  }

  /** The complete rows in the file's last `bytes` (all of them for a small file). */
  rows(bytes = 16_384): StatRow[] {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return [];
    }
    if (size <= bytes) return parseStat(readFileSync(this.path, "latin1"));
    if (this.header === "") {
      const first = readFileSync(this.path, "latin1").split("\n", 1)[0] ?? "";
      this.header = first;
    }
    const fd = openSync(this.path, "r");
    try {
      const buf = Buffer.alloc(bytes);
      readSync(fd, buf, 0, bytes, size - bytes);
      const text = buf.toString("latin1");
      // Drop the first line: the read most likely started inside it.
      return parseStat(`${this.header}\n${text.slice(text.indexOf("\n") + 1)}`);
    } finally {
      closeSync(fd);
    }
  }

  last(): StatRow | undefined {
    return this.rows().at(-1);
  }
}

/** An answerer running uas-rr.xml on 127.0.0.1:port until stopped. */
export function startAnswerer(dir: string, name: string, port: number): Sipp {
  const statPath = join(dir, `${name}.csv`);
  const child = launch(
    name,
    SIPP,
    ["-sf", UAS_SCENARIO, ...COMMON, "-p", String(port), "-trace_stat", "-stf", statPath, "-fd", "250ms"],
    { logFile: join(dir, `${name}.log`) },
  );
  return { child, port, stat: new StatFile(statPath) };
}

export interface CallerOptions {
  target: number;
  rate: number;
  calls: number;
  holdMs: number;
}

/**
 * A caller of `calls` calls at `rate` a second to 127.0.0.1:target, each held `holdMs`.
 * `-l` is raised to all the calls so that SIPp never slows its rate down by itself when the
 * target answers late (its default limit is 3 × rate × hold): a late target must fail the step.
 */
export function startCaller(dir: string, name: string, port: number, o: CallerOptions): Sipp {
  const statPath = join(dir, `${name}.csv`);
  const child = launch(
    name,
    SIPP,
    [
      ...["-sf", UAC_SCENARIO, `127.0.0.1:${o.target}`, ...COMMON, "-p", String(port)],
      ...["-r", String(o.rate), "-m", String(o.calls), "-l", String(o.calls), "-d", String(o.holdMs)],
      ...["-trace_stat", "-stf", statPath, "-fd", "250ms"],
    ],
    { logFile: join(dir, `${name}.log`) },
  );
  return { child, port, stat: new StatFile(statPath) };
}

/** A UDP port free on 127.0.0.1 right now (bound by the kernel's choice, then released). */
export async function freeUdpPort(): Promise<number> {
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const { port } = sock.address();
  await new Promise<void>((r) => sock.close(() => r()));
  return port;
}

/**
 * Waits until 127.0.0.1:port answers an OPTIONS with any SIP response, a fresh probe every
 * 200 ms (SIPp prints nothing to wait on when it is ready; a proxy relays the probe to an
 * answerer or answers it itself). Fails after timeoutMs, or as soon as `gone()` says the
 * process exited.
 */
export async function waitForSip(port: number, timeoutMs: number, gone: () => string | null): Promise<void> {
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const local = sock.address().port;
  let answered = false;
  sock.on("message", (m) => {
    if (m.toString("latin1").startsWith("SIP/2.0 ")) answered = true;
  });
  try {
    const end = Date.now() + timeoutMs;
    for (let n = 1; !answered; n++) {
      const why = gone();
      if (why !== null) throw new Error(why);
      if (Date.now() > end) throw new Error(`no SIP answer on 127.0.0.1:${port} within ${timeoutMs} ms`);
      const msg =
        `OPTIONS sip:probe@127.0.0.1:${port} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bKbench${local}x${n}\r\n` +
        `From: <sip:bench@127.0.0.1:${local}>;tag=b${n}\r\nTo: <sip:probe@127.0.0.1:${port}>\r\n` +
        `Call-ID: bench-probe-${local}-${n}\r\nCSeq: ${n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
      sock.send(msg, port, "127.0.0.1");
      for (let i = 0; i < 10 && !answered; i++) await sleep(20);
    }
  } finally {
    sock.close();
  }
}

/**
 * Datagrams the kernel dropped at the UDP sockets bound to the port (a full receive buffer):
 * the last column of /proc/net/udp, summed (src/net/udp-queue.ts).
 */
export function udpDrops(port: number): number {
  return readUdpQueue(port, "IPv4")?.drops ?? 0;
}
