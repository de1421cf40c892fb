// The life of a SIP stream transport: release() frees the port while connections go on (a
// hand-over), rebind() takes it back, and close() ends everything so the process can exit.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { SipStreamTransport } from "../../src/protocols/sip/stream-transport.ts";
import { rawPeer, request, response, side, until } from "../helpers/sip-stream-kit.ts";

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });
}

test("release() frees the port for a successor while open connections go on; rebind() takes it back", async (t) => {
  const server = await side(t, "tcp", {
    onMessage: (m, s) => {
      if (m.message.kind === "request") s.t.send(m.source, response(1), m.flow);
    },
  });
  const peer = await rawPeer(t, server.port);
  await server.t.release();
  assert.equal(await refused(server.port), true, "no longer listening");
  const bound = () => server.t.address?.port;
  assert.equal(bound(), undefined);

  // A successor binds the same port.
  const successor = new SipStreamTransport({
    transport: "tcp",
    host: "127.0.0.1",
    port: server.port,
    onMessage: () => {},
  });
  await successor.start();
  assert.equal(successor.address?.port, server.port);

  // The connection accepted before the release still works both ways.
  peer.socket.write(request(1));
  await until("the answer on the old connection", () => peer.text().startsWith("SIP/2.0 200 OK"));

  // The hand-over fails: the successor goes, the first takes the port back.
  await successor.close();
  await server.t.rebind();
  assert.equal(bound(), server.port);
  const again = await rawPeer(t, server.port);
  again.socket.write(request(2));
  await until("a message on a new connection", () => server.got.length === 2);
});

test("close() ends connections, timers and connects in progress: the process exits by itself", async (t) => {
  const transportUrl = new URL("../../src/protocols/sip/stream-transport.ts", import.meta.url).href;
  const kitUrl = new URL("../helpers/sip-stream-kit.ts", import.meta.url).href;
  // Two TLS transports that talk, a half-sent message (its timer running), a silent raw
  // socket, an outbound connect to a peer that never handshakes; then close() on both.
  const script = `
    import { createServer, connect } from "node:net";
    import { SipStreamTransport } from ${JSON.stringify(transportUrl)};
    import { SERVER_TLS, CA, request, response } from ${JSON.stringify(kitUrl)};
    const held = [];
    const hole = createServer((s) => { s.pause(); s.on("error", () => {}); held.push(s); });
    await new Promise((r) => hole.listen(0, "127.0.0.1", r));
    const mk = (onMessage) => new SipStreamTransport({ transport: "tls", host: "127.0.0.1", port: 0,
      tls: SERVER_TLS, clientTls: { ca: CA, verify: true, servername: "localhost" }, onMessage });
    const server = mk((m) => m.message.kind === "request" && server.send(m.source, response(1), m.flow));
    let answered;
    const done = new Promise((r) => { answered = r; });
    const proxy = mk((m) => answered());
    await server.start(); await proxy.start();
    proxy.send({ transport: "tls", host: "127.0.0.1", port: server.address.port }, request(1));
    await done;
    const raw = connect(server.address.port, "127.0.0.1");
    raw.on("error", () => {});
    await new Promise((r) => raw.once("connect", r));
    proxy.send({ transport: "tls", host: "127.0.0.1", port: hole.address().port }, request(2));
    const half = connect(proxy.address.port, "127.0.0.1");
    half.on("error", () => {});
    await new Promise((r) => half.once("connect", r));
    half.write("INVITE sip:fs@127.0.0.1 SIP/2.0\\r\\nVia: SIP/2.0/TCP 1.2.3.4\\r\\n");
    await Promise.all([server.close(), proxy.close()]);
    hole.close();
    for (const s of held) s.destroy();
    console.log("closed", server.connections, proxy.connections);
  `;
  const started = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  t.after(() => {
    clearTimeout(killer);
    child.kill("SIGKILL");
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
    child.once("exit", (c, s) => r([c, s])),
  );
  assert.equal(signal, null, `killed: the process did not exit on its own\n${out}`);
  assert.equal(code, 0, out);
  assert.match(out, /^closed 0 0$/m);
  t.diagnostic(`child started, talked and exited in ${Date.now() - started} ms`);
});
