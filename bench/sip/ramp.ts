// One step of a target's ramp (bench.ts interleaves the targets' ramps): a fresh SIPp caller
// at one rate; it fails on a failed call, a retransmission on either side, or a caller that
// could not keep its rate. Its CPU is read from /proc at the caller's start and end; the
// proxy's memory once, at the plateau (calls in progress steady at rate × hold).
import { busyCores, cpuMs, machineCpu } from "../lib/procfs.ts";
import { round } from "../lib/stats.ts";
import { sleep } from "../lib/wait.ts";
import { PeakCpu } from "./peak-cpu.ts";
import { treeCpu, treeMemory } from "./proctree.ts";
import { freeUdpPort, type Sipp, startCaller, udpDrops } from "./sipp.ts";
import type { StatRow } from "./stat-csv.ts";
import type { Target } from "./targets.ts";

export interface RampSettings {
  start: number;
  step: number;
  max: number;
  stepSeconds: number;
  holdMs: number;
}

export interface StepResult {
  rate: number;
  calls: number;
  passed: boolean;
  /** Why the step failed; null when it passed. */
  reason: string | null;
  successful: number;
  failed: number;
  retransmissions: number;
  /** Over the step, both answerers (read from their statistics after the caller ended). */
  answerer_failed: number;
  answerer_retransmissions: number;
  /** The caller's CallRate(C) when it had created its last call: the rate it really kept. */
  sent_rate: number | null;
  seconds: number;
  proxy_cpu_us_per_call: number | null;
  proxy_user_us_per_call: number | null;
  proxy_system_us_per_call: number | null;
  /** The proxy's share of one core over the step. */
  proxy_cpu_pct: number | null;
  /** The proxy's busiest process at its busiest, in cores (peak-cpu.ts). */
  proxy_peak_cores: number | null;
  answerers_cpu_us_per_call: number | null;
  caller_cpu_us_per_call: number | null;
  /** Cores the proxy, the answerers and the caller used together over the step. */
  measured_cores: number;
  /** The whole machine's busy cores from /proc/stat (other work included; see README). */
  machine_busy_cores: number;
  /** How much the proxy's log (its stdout and stderr) grew per call completed over the step. */
  log_bytes_per_call: number | null;
  /** Datagrams the kernel dropped at full receive buffers over the step. */
  drops: { proxy: number | null; answerers: number };
  /** At the plateau: the caller's open calls and the proxy's memory (KiB; null for direct). */
  plateau: { sipp_current_calls: number; pss_kib: number | null; rss_kib: number | null } | null;
}

export interface Peers {
  answerers: Sipp[];
}

const perCall = (ms: number, calls: number) => (calls > 0 ? round((ms * 1000) / calls, 1) : null);

/** Waits (at most 3 s) for a row of `s` written after `at` (Unix s); returns the last row. */
async function rowAfter(s: Sipp, at: number): Promise<StatRow | undefined> {
  const end = Date.now() + 3_000;
  let last = s.stat.last();
  while ((last === undefined || last.at <= at) && Date.now() < end) {
    await sleep(50);
    last = s.stat.last();
  }
  return last;
}

export async function runStep(
  dir: string,
  target: Target,
  peers: Peers,
  s: RampSettings,
  rate: number,
): Promise<StepResult> {
  const calls = rate * s.stepSeconds;
  const proxyPort = target.pids.length > 0 ? target.port : null;
  const ansPorts = peers.answerers.map((a) => a.port);
  const drops0 = { proxy: proxyPort === null ? 0 : udpDrops(proxyPort), ans: sumDrops(ansPorts) };
  const ansRows0 = peers.answerers.map((a) => a.stat.last());
  const ansCpu0 = peers.answerers.reduce((t, a) => t + cpuMs(a.child.pid), 0);
  const proxy0 = treeCpu(target.pids);
  const log0 = target.logBytes?.() ?? null;
  const m0 = machineCpu();
  const t0 = Date.now();
  const peak = new PeakCpu(target.pids);
  peak.sample(t0);
  const port = await freeUdpPort();
  const caller = startCaller(dir, `caller-${target.name}-${rate}`, port, {
    target: target.port,
    rate,
    calls,
    holdMs: s.holdMs,
  });
  let callerCpu = 0;
  let sentRate: number | null = null;
  let plateau: StepResult["plateau"] = null;
  let stopping = false;
  const deadline = t0 + (s.stepSeconds + s.holdMs / 1000 + 20) * 1000;
  // Bounded by the deadline: past it the caller is killed, and it exits.
  while (caller.child.exited === null) {
    await sleep(100);
    peak.sample(Date.now());
    try {
      callerCpu = cpuMs(caller.child.pid);
    } catch {
      // it has just exited: keep the last reading (at most 100 ms short)
    }
    const last = caller.stat.last();
    if (last !== undefined) {
      if (sentRate === null && last.created >= calls) sentRate = last.callRate;
      if (
        plateau === null &&
        last.created >= calls - rate / 2 &&
        Date.now() - t0 >= s.holdMs &&
        last.created < calls
      ) {
        const mem = target.pids.length > 0 ? treeMemory(target.pids) : null;
        plateau = { sipp_current_calls: last.current, pss_kib: mem?.pss ?? null, rss_kib: mem?.rss ?? null };
      }
      // The step has failed: SIGUSR1 tells SIPp to start no more calls and end the open ones.
      if (!stopping && (last.failed > 0 || last.retransmissions > 0)) {
        stopping = true;
        caller.child.proc.kill("SIGUSR1");
      }
    }
    if (Date.now() > deadline) caller.child.proc.kill("SIGKILL");
  }
  const t1 = Date.now();
  const proxy1 = treeCpu(target.pids);
  const m1 = machineCpu();
  // The session lines come at the calls' ends: the last ones within the caller's last 100 ms.
  const log1 = target.logBytes?.() ?? null;
  const ansCpu1 = peers.answerers.reduce((t, a) => t + cpuMs(a.child.pid), 0);
  const end = caller.stat.last();
  const ansRows1 = await Promise.all(peers.answerers.map((a) => rowAfter(a, t1 / 1000)));
  const drops1 = { proxy: proxyPort === null ? 0 : udpDrops(proxyPort), ans: sumDrops(ansPorts) };
  const delta = (k: "failed" | "retransmissions") =>
    ansRows1.reduce((t, r, i) => t + ((r?.[k] ?? 0) - (ansRows0[i]?.[k] ?? 0)), 0);
  const successful = end?.successful ?? 0;
  const r = {
    failed: end?.failed ?? 0,
    retransmissions: end?.retransmissions ?? 0,
    answerer_failed: delta("failed"),
    answerer_retransmissions: delta("retransmissions"),
  };
  const reason =
    end === undefined
      ? `no statistics from SIPp (exit ${caller.child.exited})`
      : r.failed > 0
        ? `${r.failed} failed calls`
        : r.retransmissions > 0
          ? `${r.retransmissions} retransmissions by the caller`
          : r.answerer_retransmissions > 0
            ? `${r.answerer_retransmissions} retransmissions by the answerers`
            : r.answerer_failed > 0
              ? `${r.answerer_failed} failed calls at the answerers`
              : successful < calls
                ? `${successful} of ${calls} calls completed (exit ${caller.child.exited})`
                : sentRate === null || sentRate < rate * 0.95
                  ? `the caller kept ${sentRate ?? "n/a"} calls/s, under 95% of ${rate}`
                  : null;
  const proxyMs = proxy1.user + proxy1.system - proxy0.user - proxy0.system;
  const hasProxy = target.pids.length > 0;
  return {
    rate,
    calls,
    passed: reason === null,
    reason,
    successful,
    ...r,
    sent_rate: sentRate === null ? null : round(sentRate, 1),
    seconds: round((t1 - t0) / 1000, 2),
    proxy_cpu_us_per_call: hasProxy ? perCall(proxyMs, successful) : null,
    proxy_user_us_per_call: hasProxy ? perCall(proxy1.user - proxy0.user, successful) : null,
    proxy_system_us_per_call: hasProxy ? perCall(proxy1.system - proxy0.system, successful) : null,
    proxy_cpu_pct: hasProxy ? round((proxyMs / (t1 - t0)) * 100, 1) : null,
    proxy_peak_cores: hasProxy ? round(peak.peak, 2) : null,
    answerers_cpu_us_per_call: perCall(ansCpu1 - ansCpu0, successful),
    caller_cpu_us_per_call: perCall(callerCpu, successful),
    measured_cores: round((proxyMs + ansCpu1 - ansCpu0 + callerCpu) / (t1 - t0), 2),
    machine_busy_cores: round(busyCores(m0, m1), 2),
    log_bytes_per_call:
      log0 === null || log1 === null || successful === 0 ? null : round((log1 - log0) / successful, 1),
    drops: {
      proxy: proxyPort === null ? null : drops1.proxy - drops0.proxy,
      answerers: drops1.ans - drops0.ans,
    },
    plateau,
  };
}

function sumDrops(ports: readonly number[]): number {
  return ports.reduce((t, p) => t + udpDrops(p), 0);
}
