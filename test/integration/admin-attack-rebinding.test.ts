// DNS rebinding against the loopback admin API without a token: a page on evil.example
// whose name is rebound to 127.0.0.1 talks to the admin port as its own origin (so it reads
// answers and may send JSON POSTs without a preflight). The only trace is the Host header,
// which names the attacker's domain. A production loopback admin API answers only Host values
// that name the loopback or its own listen address (or requires the token).
import assert from "node:assert/strict";
import { test } from "node:test";
import { adminConfig, adminTarget, json, req, SERVER_A } from "../helpers/admin-attack.ts";

const rebound = (port: number): [string, string][] => [
  ["Host", `evil.example:${port}`],
  ["Origin", `http://evil.example:${port}`],
  ["Sec-Fetch-Site", "same-origin"],
  ["Sec-Fetch-Mode", "cors"],
];

// A defect found by attacking the API, fixed: GET /api/v1/status, /pools and /sessions answer 200 to Host: evil.example, handing a rebinding page the topology (server.ts checks no Host).
test("a rebound page (Host: evil.example) cannot read status, pools or sessions", async (t) => {
  const a = await adminTarget(t);
  for (const path of ["/api/v1/status", "/api/v1/pools", "/api/v1/sessions"]) {
    const r = await a.send(req("GET", path, rebound(a.port)));
    assert.ok(
      r.status === 403 || r.status === 421,
      `${path} with a foreign Host is refused (403/421), got ${r.status}: ${r.body.toString().slice(0, 120)}`,
    );
    assert.doesNotMatch(r.body.toString(), new RegExp(SERVER_A.replace(/\./g, "\\.")), path);
  }
});

// A defect found by attacking the API, fixed: a JSON POST with Host: evil.example drains a server (no Host or Origin check in server.ts).
test("a rebound page (Host: evil.example) cannot drain a server with a JSON POST", async (t) => {
  const a = await adminTarget(t);
  const r = await a.send(
    req(
      "POST",
      `/api/v1/pools/main/servers/${SERVER_A}/drain`,
      [...rebound(a.port), ["Content-Type", "application/json"]],
      "{}",
    ),
    "POST",
  );
  assert.equal(a.server().admin, "ready", `the rebound drain was applied (answer ${r.status})`);
  assert.ok(r.status === 403 || r.status === 421, `refused with 403 or 421, got ${r.status}`);
});

// A defect found by attacking the API, fixed: a JSON POST with Host: evil.example reloads the config (no Host or Origin check in server.ts).
test("a rebound page (Host: evil.example) cannot trigger a reload", async (t) => {
  const a = await adminTarget(t);
  a.p.writeConfig(adminConfig(undefined, "shutdown_timeout: 7s"));
  const r = await a.send(
    req("POST", "/api/v1/reload", [...rebound(a.port), ["Content-Type", "application/json"]], "{}"),
    "POST",
  );
  assert.equal(a.generation(), 1, `the rebound reload was applied (answer ${r.status} ${r.body})`);
  assert.ok(r.status === 403 || r.status === 421, `refused with 403 or 421, got ${r.status}`);
});

// Passes (guards any fix): the loopback names an operator and `trunkline ctl` use keep working.
test("Host values naming the loopback listen address are served: 127.0.0.1:PORT and localhost:PORT", async (t) => {
  const a = await adminTarget(t);
  for (const h of [`127.0.0.1:${a.port}`, `localhost:${a.port}`]) {
    const r = await a.send(req("GET", "/api/v1/status", [["Host", h]]));
    assert.equal(r.status, 200, h);
    assert.equal(json(r).pid, process.pid, h);
    const d = await a.send(
      req(
        "POST",
        `/api/v1/pools/main/servers/${SERVER_A}/weight`,
        [
          ["Host", h],
          ["Content-Type", "application/json"],
        ],
        '{"weight":3}',
      ),
      "POST",
    );
    assert.equal(d.status, 200, `${h}: ${d.body}`);
    assert.equal(a.server().operatorWeight, 3);
    await a.send(
      req(
        "POST",
        `/api/v1/pools/main/servers/${SERVER_A}/weight`,
        [
          ["Host", h],
          ["Content-Type", "application/json"],
        ],
        '{"weight":null}',
      ),
      "POST",
    );
    assert.equal(a.server().operatorWeight, undefined);
  }
});
