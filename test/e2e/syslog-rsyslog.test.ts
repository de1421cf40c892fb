import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, test } from "node:test";
import { createLogger } from "../../src/observe/logger.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { startCli } from "../helpers/cli.ts";
import { freePort, startAgiServer } from "../helpers/upstreams.ts";

const RSYSLOGD = "/usr/sbin/rsyslogd";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/**
 * Debian's rsyslogd in the foreground on loopback UDP and TCP ports, writing each message
 * as `facility severity app-name procid msgid msg` to a file in a temp dir. It runs as root
 * here but drops nothing and touches no system file: no imuxsock/imklog (so no /dev/log
 * listener), its work directory and pid file in the temp dir, and
 * processInternalMessages="on" so its own start/stop messages go to our file instead of
 * the host's syslog socket (/dev/log), where rsyslog 8 sends them by default.
 */
async function startRsyslog() {
  assert.ok(existsSync(RSYSLOGD), `${RSYSLOGD} is missing: .ci/run installs Debian's rsyslog`);
  const dir = mkdtempSync(join(tmpdir(), "tl-rsyslog-"));
  const udpPort = await freePort();
  const tcpPort = await freePort();
  const out = join(dir, "out.log");
  const conf = join(dir, "rsyslog.conf");
  writeFileSync(
    conf,
    `global(workDirectory="${dir}" processInternalMessages="on")
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
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  cleanup.push(close);
  const lines = () => (existsSync(out) ? readFileSync(out, "utf8").split("\n").filter(Boolean) : []);
  const waitFor = async (re: RegExp, timeoutMs = 5000): Promise<string> => {
    const stop = Date.now() + timeoutMs;
    for (;;) {
      const l = lines().find((x) => re.test(x));
      if (l) return l;
      if (Date.now() > stop)
        throw new Error(`rsyslog never wrote ${re}; got:\n${lines().join("\n")}\n${output}`);
      await sleep(50);
    }
  };

  // Ready when TCP accepts and a UDP probe comes out in the file (UDP has no handshake
  // to wait for; probes are repeated in case the first ones beat imudp's bind).
  const end = Date.now() + 8000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`rsyslogd exited: ${output}`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host: "127.0.0.1", port: tcpPort }, () => {
        s.destroy();
        r(true);
      });
      s.on("error", () => r(false));
    });
    if (ok) break;
    if (Date.now() > end) throw new Error(`rsyslogd did not listen on TCP: ${output}`);
    await sleep(50);
  }
  const probe = createSocket("udp4");
  try {
    for (let i = 0; ; i++) {
      probe.send(`<14>1 - - probe - - - ready ${i}`, udpPort, "127.0.0.1");
      if (lines().some((l) => l.includes(" ready "))) break;
      if (Date.now() > end) throw new Error(`rsyslogd did not listen on UDP: ${output}`);
      await sleep(100);
    }
  } finally {
    probe.close();
  }
  return { udpPort, tcpPort, lines, waitFor };
}

test("a real rsyslogd receives our RFC 5424 records over UDP and over TCP (octet counting)", async () => {
  const rs = await startRsyslog();
  let stdoutLines = 0;
  const destination = new Writable({
    write(_c, _e, cb) {
      stdoutLines++;
      cb();
    },
  });
  for (const transport of ["udp", "tcp"] as const) {
    const port = transport === "udp" ? rs.udpPort : rs.tcpPort;
    const l = createLogger({
      level: "info",
      appName: "trunkline",
      destination,
      syslog: { target: { transport, host: "127.0.0.1", port }, facility: 17 },
    });
    l.log.warn({ event: "server_state", note: "Zoë ☎" }, `warned over ${transport}`);
    l.log.info({ event: "session", bytes_in: 42 }, `session over ${transport}`);
    l.log.error(`failed over ${transport}`);
    l.log.debug({}, `below the level over ${transport}`);
    await l.close();
    const warn = await rs.waitFor(new RegExp(`warned over ${transport}`));
    assert.match(
      warn,
      new RegExp(
        `^local1 warning trunkline ${process.pid} server_state \\{.*"note":"Zoë ☎".*"msg":"warned over ${transport}"\\}$`,
      ),
    );
    const info = await rs.waitFor(new RegExp(`session over ${transport}`));
    assert.match(info, new RegExp(`^local1 info trunkline ${process.pid} session \\{.*"bytes_in":42.*\\}$`));
    // The MSG is the very JSON line written to stdout.
    const json = JSON.parse(info.slice(info.indexOf("{"))) as Record<string, unknown>;
    assert.equal(json.msg, `session over ${transport}`);
    assert.equal(json.severity, "info");
    const err = await rs.waitFor(new RegExp(`failed over ${transport}`));
    assert.match(err, new RegExp(`^local1 err trunkline ${process.pid} - \\{`));
  }
  assert.equal(stdoutLines, 6);
  assert.equal(rs.lines().filter((x) => x.includes("below the level")).length, 0);
});

test("a reload moves the syslog stream from UDP to TCP and to another facility without losing a line", async () => {
  const rs = await startRsyslog();
  const destination = new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });
  const l = createLogger({
    level: "info",
    destination,
    syslog: { target: { transport: "udp", host: "127.0.0.1", port: rs.udpPort }, facility: 16 },
  });
  for (let i = 0; i < 20; i++) l.log.info({ event: "n" }, `line ${i}`);
  l.reconfigure({
    level: "info",
    syslog: { target: { transport: "tcp", host: "127.0.0.1", port: rs.tcpPort }, facility: 20 },
  });
  for (let i = 20; i < 40; i++) l.log.info({ event: "n" }, `line ${i}`);
  await l.close();
  await rs.waitFor(/"line 39"/);
  await rs.waitFor(/"line 19"/);
  const got = rs.lines().filter((x) => / n \{/.test(x));
  const numbers = got.map((x) => Number(/"line (\d+)"/.exec(x)?.[1])).sort((a, b) => a - b);
  assert.deepEqual(numbers, [...Array(40).keys()]);
  for (const x of got) {
    const n = Number(/"line (\d+)"/.exec(x)?.[1]);
    assert.ok(x.startsWith(n < 20 ? "local0 info trunkline " : "local4 info trunkline "), x);
  }
});

test("the running proxy logs its sessions to rsyslog (log.syslog in the config)", async () => {
  const rs = await startRsyslog();
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const dir = mkdtempSync(join(tmpdir(), "tl-syslog-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, "t.yaml");
  writeFileSync(
    f,
    `log: { level: info, syslog: "tcp://127.0.0.1:${rs.tcpPort}", syslog_facility: local3 }
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port} } ] } }
`,
  );
  const proc = startCli(["run", "-c", f]);
  cleanup.push(() => proc.kill());
  const exit = new Promise<number | null>((r) => proc.child.once("exit", (code) => r(code)));
  await proc.waitFor((l) => l.msg === "trunkline started");
  const port = Number((await proc.waitFor((l) => l.msg === "listening")).port);
  assert.equal((await agiCall({ port, url: "agi://x/hello" })).status, "SUCCESS");
  const line = await rs.waitFor(/ session \{/);
  assert.match(
    line,
    /^local3 info trunkline \d+ session \{.*"request":"agi:\/\/x\/hello".*"outcome":"completed"/,
  );
  proc.child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    exit,
    new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 8000))),
  ]);
  clearTimeout(timer);
  assert.equal(code, 0);
  // The last line before exit went through the bounded flush in close().
  await rs.waitFor(/"msg":"trunkline stopped"/);
});
