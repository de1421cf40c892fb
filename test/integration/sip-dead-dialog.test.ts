// A request in a dialog that ended here (its BYE answered) does not bring the call back into
// the calls table: rebuildCall is for the calls of a restart. Found by attacking the running
// proxy: an INFO per finished call, with its old Route, made a phantom call that held a
// max_sessions slot until call_timeout (4 h), so new INVITEs got 503.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startProxy, until } from "../helpers/proxy.ts";
import { methodOf, serverReply, sipRequest, statusOf, udpPeer } from "../helpers/sip-attack.ts";
import { headerLines, sipConfig, sipListener } from "../helpers/sip-proxy.ts";

test("an INFO in a dialog whose BYE was answered is forwarded but makes no call", {
  timeout: 20_000,
}, async (t) => {
  const server = await udpPeer(t, {
    answer: (d, p) => {
      const m = methodOf(d.text);
      if (m !== "ACK" && m !== "SIP/2.0") p.send(serverReply(d.text, "200 OK"), d.from.port);
    },
  });
  const caller = await udpPeer(t);
  const p = await startProxy(sipConfig([server.port]));
  t.after(() => p.close());
  const port = p.port("sip");
  const l = sipListener(p);
  const via = (b: string) => `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK${b}`;
  caller.send(
    sipRequest({ method: "INVITE", uri: "sip:bob@example.com", via: via("inv"), callId: "dead-1" }),
    port,
  );
  await until(() => caller.got.some((d) => statusOf(d.text) === 200), 5_000, "the 200");
  const ok = caller.got.find((d) => statusOf(d.text) === 200)?.text ?? "";
  const route = headerLines(ok, "Record-Route").map((v) => `Route: ${v}`);
  assert.ok(route.length > 0, "a Record-Route");
  const inDialog = (method: string, cseq: number) =>
    sipRequest({
      method,
      uri: "sip:fs@127.0.0.1",
      via: via(`${method}${cseq}`),
      callId: "dead-1",
      cseq,
      toTag: "srv",
      extra: route,
    });
  caller.send(inDialog("ACK", 1), port);
  caller.send(inDialog("BYE", 2), port);
  await until(() => l.sessions === 0, 5_000, "the call ended by its BYE");
  caller.send(inDialog("INFO", 3), port);
  await until(() => server.got.some((d) => methodOf(d.text) === "INFO"), 5_000, "the INFO forwarded");
  await until(() => caller.got.filter((d) => statusOf(d.text) === 200).length >= 3, 5_000, "its 200");
  t.diagnostic(`calls open after the INFO: ${l.sessions}`);
  assert.equal(l.sessions, 0, "the dead dialog came back as a call");
});
