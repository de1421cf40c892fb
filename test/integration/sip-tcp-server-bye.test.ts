// A FreeSWITCH on TCP that sends its BYE on a connection of its own (from a port of its
// choosing, not its listening one): the BYE goes on to the caller (RFC 3261 §16.4, §16.6),
// not back to the server. Found by attacking the running proxy: the direction was told by the
// source port alone, so such a BYE went back to the server and the caller never hung up.
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { serverReply, sipRequest } from "../helpers/sip-attack.ts";
import { headerLines, sipConfig } from "../helpers/sip-proxy.ts";
import { rawPeer } from "../helpers/sip-stream-kit.ts";

test("TCP: a server's BYE on a new connection of its own reaches the caller", {
  timeout: 20_000,
}, async (t) => {
  let invite = "";
  const accepted: Socket[] = [];
  const fs = createServer((s) => {
    accepted.push(s);
    s.on("error", () => {});
    s.on("data", (d) => {
      const text = d.toString("latin1");
      if (text.startsWith("INVITE ")) {
        invite = text;
        s.write(serverReply(text, "200 OK"));
      }
    });
  });
  await new Promise<void>((r) => fs.listen(0, "127.0.0.1", () => r()));
  t.after(() => {
    for (const s of accepted) s.destroy();
    fs.close();
  });
  const fsPort = (fs.address() as { port: number }).port;
  const p = await startProxy(sipConfig([fsPort], "", ", transports: [tcp]"));
  t.after(() => p.close());
  const port = p.port("sip");
  const caller = await rawPeer(t, port);
  const me = caller.socket.localPort ?? 0;
  caller.socket.write(
    sipRequest({
      method: "INVITE",
      uri: "sip:bob@example.com",
      via: `SIP/2.0/TCP 127.0.0.1:${me};branch=z9hG4bKtcpbye`,
      callId: "tcp-bye-1",
      extra: [],
    }).replace("Contact: <sip:alice@127.0.0.1>", `Contact: <sip:alice@127.0.0.1:${me};transport=tcp>`),
  );
  await until(() => caller.text().includes("SIP/2.0 200"), 5_000, "the caller's 200");
  // The server's BYE: Route = the Record-Route it got, in order; on a new connection.
  const rr = headerLines(invite, "Record-Route");
  const bye = [
    `BYE sip:alice@127.0.0.1:${me};transport=tcp SIP/2.0`,
    `Via: SIP/2.0/TCP 127.0.0.1:${fsPort};branch=z9hG4bKfsbye`,
    ...rr.map((v) => `Route: ${v}`),
    "Max-Forwards: 70",
    "From: <sip:bob@example.com>;tag=srv",
    "To: <sip:alice@127.0.0.1>;tag=a1",
    "Call-ID: tcp-bye-1",
    "CSeq: 1 BYE",
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
  const own = connect({ host: "127.0.0.1", port });
  own.on("error", () => {});
  t.after(() => own.destroy());
  await new Promise<void>((r) => own.once("connect", () => r()));
  assert.notEqual(own.localPort, fsPort);
  own.write(bye);
  await until(() => caller.text().includes("BYE sip:alice@"), 5_000, "the BYE at the caller");
});
