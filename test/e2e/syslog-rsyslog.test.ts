import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createLogger } from "../../src/observe/logger.ts";
import { agiCall } from "../helpers/asterisk.ts";
import { startCli } from "../helpers/cli.ts";
import { startRsyslog } from "../helpers/rsyslog.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test("a real rsyslogd receives our RFC 5424 records over UDP and over TCP (octet counting)", async () => {
  const rs = await startRsyslog();
  cleanup.push(rs.close);
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  for (const transport of ["udp", "tcp"] as const) {
    const port = transport === "udp" ? rs.udpPort : rs.tcpPort;
    const l = createLogger({
      level: "info",
      appName: "trunkline",
      destination: sink,
      syslog: { target: { transport, host: "127.0.0.1", port }, facility: 17 },
    });
    l.log.warn({ event: "server_state", note: "Zoë" }, `over ${transport}`);
    l.log.info({ event: "session" }, `second over ${transport}`);
    l.log.debug({}, "below the level: not sent");
    await rs.waitFor(new RegExp(`second over ${transport}`));
    await l.close();
    const warn = await rs.waitFor(new RegExp(`over ${transport}"`));
    assert.match(
      warn,
      new RegExp(
        `^local1 warning trunkline ${process.pid} server_state \\{.*"note":"Zoë".*"msg":"over ${transport}"\\}$`,
      ),
    );
    const info = await rs.waitFor(new RegExp(`second over ${transport}`));
    assert.match(info, /^local1 info trunkline \d+ session \{/);
  }
  assert.equal(rs.lines().filter((x) => x.includes("below the level")).length, 0);
});

test("the running proxy logs its sessions to rsyslog (log.syslog in the config)", async () => {
  const rs = await startRsyslog();
  cleanup.push(rs.close);
  const up = await startAgiServer({ commands: ["NOOP"] });
  cleanup.push(up.close);
  const dir = mkdtempSync(join(tmpdir(), "tl-syslog-"));
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
  await proc.waitFor((l) => l.msg === "trunkline started");
  // Port 0 in the config: the kernel picks a free port, read back from the log.
  const port = Number((await proc.waitFor((l) => l.msg === "listening")).port);
  assert.equal((await agiCall({ port, url: "agi://x/hello" })).status, "SUCCESS");
  const line = await rs.waitFor(/ session \{/);
  assert.match(
    line,
    /^local3 info trunkline \d+ session \{.*"request":"agi:\/\/x\/hello".*"outcome":"completed"/,
  );
  proc.child.kill("SIGTERM");
  assert.equal(await proc.exited(), 0);
});
