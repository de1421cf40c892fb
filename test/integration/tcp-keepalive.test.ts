// Every proxied connection has TCP keep-alive on (net/keepalive.ts): a FastAGI session may
// be silent for hours, and a peer that vanishes without a FIN must not hold a socket for
// good. What the kernel reports (`ss -o`: timer:(keepalive,...)) is the observable state.
// A plain listener turns it on at accept with tcp_keepalive_after: 0s (by default a session
// gets it at 30 s: fastagi-keepalive-after.test.ts); a TLS listener always does.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { after, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { defaultHeader } from "../helpers/asterisk.ts";
import { startProxy, until } from "../helpers/proxy.ts";
import { startAgiServer } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const TLS = new URL("../fixtures/tls/", import.meta.url);
const files = Object.fromEntries(
  ["ca.pem", "server.pem", "server.key"].map((n) => [n, readFileSync(new URL(n, TLS))]),
);

/** The `ss -tno` lines of established TCP sockets whose local (sport) or remote (dport) port is `port`. */
function sockets(side: "sport" | "dport", port: number): string[] {
  const out = execFileSync("ss", ["-tnoH", "state", "established", `( ${side} = :${port} )`], {
    encoding: "utf8",
  });
  return out.split("\n").filter((l) => l.trim() !== "");
}

for (const tls of [false, true]) {
  test(`keep-alive is on for both sides of a ${tls ? "TLS" : "plain"} session`, async () => {
    // The server sends a command and waits for its reply, which never comes: a session on hold.
    const up = await startAgiServer({
      commands: ["NOOP"],
      ...(tls ? { tls: { cert: files["server.pem"], key: files["server.key"] } } : {}),
    });
    cleanup.push(up.close);
    const upTls = tls ? ", tls: { ca: ca.pem, servername: localhost }" : "";
    const lTls = tls ? ", tls: { cert: server.pem, key: server.key }" : ", tcp_keepalive_after: 0s";
    const p = await startProxy(
      `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0${lTls} } ]
routes: [ { listener: agi, pool: main } ]
pools: { main: { servers: [ { address: 127.0.0.1:${up.port}${upTls} } ] } }
`,
      { files },
    );
    cleanup.push(p.close);
    const sock: Socket = tls
      ? tlsConnect({ host: "127.0.0.1", port: p.port(), rejectUnauthorized: false })
      : connect(p.port(), "127.0.0.1");
    cleanup.push(() => {
      sock.destroy();
    });
    sock.on("error", () => {});
    let got = "";
    sock.on("data", (d: Buffer) => {
      got += d.toString();
    });
    sock.write(defaultHeader({ url: "agi://x/hold" }));
    await until(() => got.includes("NOOP"), 5_000, "the server's command through the proxy");
    // The client's connection as the proxy accepted it, and the proxy's to the server.
    const accepted = sockets("sport", p.port());
    const upstream = sockets("dport", up.port).filter((l) => !l.includes(`:${p.port()} `));
    assert.equal(accepted.length, 1, accepted.join("\n"));
    assert.equal(upstream.length, 1, upstream.join("\n"));
    assert.match(accepted[0] ?? "", /timer:\(keepalive,/);
    assert.match(upstream[0] ?? "", /timer:\(keepalive,/);
  });
}
