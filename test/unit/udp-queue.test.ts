// The kernel's UDP queues (net/udp-queue.ts): /proc/net/udp lines parsed, then a real socket
// whose reader is stopped: its queue fills, then the kernel drops, and both are read.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { test } from "node:test";
import { parseUdpQueues, procAddress, readUdpQueue } from "../../src/net/udp-queue.ts";
import { until } from "../helpers/proxy.ts";

const HEAD =
  "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";
const line = (local: string, rx: string, drops: number) =>
  `  123: ${local} 00000000:0000 07 00000000:${rx} 00:00000000 00000000     0        0 4242 2 ffff888003a1c000 ${drops}\n`;

test("parseUdpQueues: the sockets of one port, the fullest queue and the drops summed", () => {
  const text =
    HEAD +
    line("0100007F:13C4", "00000200", 3) +
    line("00000000:13C4", "00010000", 4) +
    line("0100007F:13C5", "FFFFFFFF", 99) +
    line("0100007F:113C4", "00000001", 1);
  assert.deepEqual(parseUdpQueues(text, 5060), { sockets: 2, rxBytes: 0x10000, drops: 7 });
  assert.equal(parseUdpQueues(text, 5062), undefined);
  assert.equal(parseUdpQueues("", 5060), undefined);
  assert.equal(parseUdpQueues(`${HEAD}garbage line\n  1: x:13C4 y zz\n`, 5060), undefined);
});

test("parseUdpQueues: with an address, only the socket bound to it (as /proc writes IPv4: host order)", () => {
  const text = HEAD + line("0100007F:13C4", "00000200", 3) + line("00000000:13C4", "00010000", 4);
  assert.equal(procAddress("127.0.0.1"), "0100007F");
  assert.equal(procAddress("0.0.0.0"), "00000000");
  assert.equal(procAddress("::1"), undefined);
  assert.equal(procAddress("1.2.3"), undefined);
  assert.deepEqual(parseUdpQueues(text, 5060, "0100007F"), { sockets: 1, rxBytes: 0x200, drops: 3 });
  assert.deepEqual(parseUdpQueues(text, 5060, "00000000"), { sockets: 1, rxBytes: 0x10000, drops: 4 });
  assert.equal(parseUdpQueues(text, 5060, "0200007F"), undefined);
});

test("parseUdpQueues: udp6 lines (32 hex digits of address)", () => {
  const text = line("00000000000000000000000001000000:13C4", "00000A00", 0);
  assert.deepEqual(parseUdpQueues(text, 5060), { sockets: 1, rxBytes: 0xa00, drops: 0 });
});

test("readUdpQueue: a socket whose reader stopped fills its queue, then the kernel drops", {
  timeout: 30_000,
}, async (t) => {
  // A child binds a small-buffered socket, says its port, then blocks its loop (30 s at most,
  // sleeping, not spinning).
  const child = spawn(
    process.execPath,
    [
      "-e",
      `const s = require("node:dgram").createSocket("udp4");
       s.bind(0, "127.0.0.1", () => {
         s.setRecvBufferSize(65536);
         process.stdout.write(String(s.address().port) + "\\n", () =>
           Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000));
       });`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  t.after(() => child.kill("SIGKILL"));
  const port = await new Promise<number>((resolve) => {
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  assert.equal(readUdpQueue(port, "IPv4", "127.0.0.2"), undefined, "another address: not this socket");
  const before = readUdpQueue(port, "IPv4", "127.0.0.1");
  assert.equal(before?.sockets, 1);
  assert.equal(before?.drops, 0);
  const s = createSocket("udp4");
  t.after(() => s.close());
  const payload = Buffer.alloc(512, 0x41);
  let sent = 0;
  // Bounded: 2,000 datagrams of 512 bytes are several times the 128 KiB the kernel gives.
  await until(
    () => {
      for (let i = 0; i < 100 && sent < 2_000; i++, sent++) s.send(payload, port, "127.0.0.1");
      return (readUdpQueue(port, "IPv4")?.drops ?? 0) > 0;
    },
    20_000,
    "drops at the stopped reader's socket",
  );
  const after = readUdpQueue(port, "IPv4");
  assert.ok((after?.rxBytes ?? 0) >= 65536, `queue ${after?.rxBytes} bytes`);
  t.diagnostic(`queue ${after?.rxBytes} bytes, ${after?.drops} dropped of ${sent} sent`);
});
