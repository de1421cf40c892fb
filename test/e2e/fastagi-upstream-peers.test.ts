import assert from "node:assert/strict";
import { after, test } from "node:test";
import { agiCall } from "../helpers/asterisk.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startDingDong, startPerlAgi } from "../helpers/upstreams.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const cfg = (port: number) => `
listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]
routes:
  - { listener: agi, match: { path: "^/ivr/(?<app>[a-z]+)$" }, rewrite: /apps/$<app>, pool: main }
pools: { main: { servers: [ { address: 127.0.0.1:${port} } ] } }
`;

test("ding-dong (npm) behind the proxy: parses the rewritten header, round trips, UTF-8 intact", async () => {
  const dd = await startDingDong();
  cleanup.push(dd.close);
  const p = await startProxy(cfg(dd.port));
  cleanup.push(p.close);
  const r = await agiCall({
    port: p.port(),
    url: `agi://127.0.0.1:${p.port()}/ivr/menu?lang=fr`,
    vars: { agi_calleridname: "Zoë Ærø", agi_callerid: "5551234" },
    reply: (c) => (c.startsWith("GET VARIABLE") ? "200 result=1 (5551234)" : "200 result=1"),
  });
  assert.equal(r.status, "SUCCESS");
  assert.equal(r.commands[0], 'VERBOSE "ding-dong apps/menu?lang=fr" 1');
  assert.equal(dd.stats.variables[0]?.agi_network_script, "apps/menu?lang=fr");
  assert.equal(dd.stats.variables[0]?.agi_calleridname, "Zoë Ærø");
  assert.equal(dd.stats.gotValues[0], "5551234");
  assert.equal((await p.waitForLog((l) => l.event === "session")).outcome, "completed");
});

test("Debian's Asterisk::AGI (Perl) behind the proxy", async () => {
  const perl = await startPerlAgi();
  cleanup.push(perl.close);
  const p = await startProxy(cfg(perl.port));
  cleanup.push(p.close);
  const r = await agiCall({
    port: p.port(),
    url: `agi://127.0.0.1:${p.port()}/ivr/menu`,
    vars: { agi_calleridname: "Zoë" },
    reply: (c) => (c.startsWith("GET VARIABLE") ? "200 result=1 (4242)" : "200 result=1"),
  });
  assert.equal(r.status, "SUCCESS");
  assert.match(r.commands[0] ?? "", /^VERBOSE "perl apps\/menu" 1$/);
  assert.match(r.commands.join("\n"), /SET VARIABLE PERL_GOT "?4242"?/);
  const session = await p.waitForLog((l) => l.event === "session");
  assert.equal(session.outcome, "completed");
  assert.match(perl.stderr(), /request=agi:\/\/127\.0\.0\.1:\d+\/apps\/menu calleridname=Zoë got=4242/);
});
