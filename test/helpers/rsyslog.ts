import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./upstreams.ts";

export const RSYSLOGD = "/usr/sbin/rsyslogd";

/**
 * A real rsyslogd from Debian in the foreground, listening on loopback UDP and TCP ports
 * and writing every message as `facility severity app procid msgid msg` to a file.
 */
export async function startRsyslog(): Promise<{
  udpPort: number;
  tcpPort: number;
  lines(): string[];
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}> {
  if (!existsSync(RSYSLOGD)) throw new Error(`${RSYSLOGD} is missing: .ci/run installs Debian's rsyslog`);
  const dir = mkdtempSync(join(tmpdir(), "tl-rsyslog-"));
  const udpPort = await freePort();
  const tcpPort = await freePort();
  const out = join(dir, "out.log");
  const conf = join(dir, "rsyslog.conf");
  writeFileSync(
    conf,
    `global(workDirectory="${dir}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="${udpPort}")
input(type="imtcp" address="127.0.0.1" port="${tcpPort}")
template(name="t" type="string" string="%syslogfacility-text% %syslogseverity-text% %app-name% %procid% %msgid% %msg%\\n")
action(type="omfile" file="${out}" template="t")
`,
  );
  const child: ChildProcess = spawn(RSYSLOGD, ["-n", "-f", conf, "-i", join(dir, "rsyslogd.pid")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout?.on("data", (d) => {
    log += d;
  });
  child.stderr?.on("data", (d) => {
    log += d;
  });
  const lines = () => (existsSync(out) ? readFileSync(out, "utf8").split("\n").filter(Boolean) : []);
  // Wait until its TCP input listens.
  const { connect } = await import("node:net");
  const end = Date.now() + 8000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`rsyslogd exited: ${log}`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host: "127.0.0.1", port: tcpPort }, () => {
        s.destroy();
        r(true);
      });
      s.on("error", () => r(false));
    });
    if (ok) break;
    if (Date.now() > end) throw new Error(`rsyslogd did not listen: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    udpPort,
    tcpPort,
    lines,
    async waitFor(re, timeoutMs = 5000) {
      const stop = Date.now() + timeoutMs;
      for (;;) {
        const l = lines().find((x) => re.test(x));
        if (l) return l;
        if (Date.now() > stop)
          throw new Error(`rsyslog never wrote ${re}; got:\n${lines().join("\n")}\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
