// HTTPS listener (issue #14: `tls:` on an http listener): the client speaks TLS to the proxy,
// the origin plain HTTP, and learns the original scheme from X-Forwarded-Proto.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT } from "../helpers/cli.ts";
import { httpConfig, pool, startOrigin } from "../helpers/http-origin.ts";
import { startProxy } from "../helpers/proxy.ts";

const TLS = join(ROOT, "test/fixtures/tls");

test("an https listener serves TLS and says X-Forwarded-Proto: https", { timeout: 30_000 }, async (t) => {
  const origin = await startOrigin(t, "a");
  const p = await startProxy(
    httpConfig(
      "  - { listener: web, pool: a }",
      pool("a", [origin.port]),
      `, tls: { cert: ${join(TLS, "server.pem")}, key: ${join(TLS, "server.key")} }`,
    ),
  );
  t.after(() => p.close());
  const body = await new Promise<string>((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port: p.port("web"),
      path: "/secure",
      ca: readFileSync(join(TLS, "ca.pem")),
      agent: false,
      servername: "localhost",
      headers: { host: "app.test" },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let s = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        s += c;
      });
      res.on("end", () => resolve(s));
    });
    req.end();
  });
  const echoed = JSON.parse(body) as { headers: Record<string, string> };
  assert.equal(echoed.headers["x-forwarded-proto"], "https");
  assert.equal(origin.seen[0]?.url, "/secure");
});
