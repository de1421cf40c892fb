// HTTP's config section: the rules of the shared contract are checked once, with a path.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../../src/app/config.ts";
import { renderStatusPage } from "../../src/protocols/http/status-page.ts";

/** The problems of a config, one per line; "" when it is valid. */
async function issues(yaml: string): Promise<string> {
  try {
    parseConfigText(yaml, "/tmp/c.yaml");
    return "";
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

const base = (route: string, pools = "  p: { servers: [ { address: 10.0.0.1 } ] }") => `
listeners: [ { name: web, protocol: http, listen: 127.0.0.1:0 } ]
routes:
  - ${route}
pools:
${pools}
`;

test("a route needs a pool or a status; wake needs passivated; hosts and prefixes are checked", async () => {
  assert.match(
    await issues(base("{ listener: web, match: { host: a.test } }")),
    /routes\[0\]: an http route needs a pool or a status/,
  );
  assert.match(
    await issues(base('{ listener: web, status: starting, wake: [ "/k" ] }')),
    /routes\[0\]\.wake: wake applies to a route whose status is passivated/,
  );
  assert.match(
    await issues(base('{ listener: web, pool: p, match: { host: "a.*.test" } }')),
    /routes\[0\]\.match\.host/,
  );
  assert.match(
    await issues(base("{ listener: web, pool: p, match: { path_prefix: api } }")),
    /path_prefix: a path prefix starts with \//,
  );
  assert.equal(await issues(base('{ listener: web, status: passivated, wake: [ "/k" ] }')), "");
  assert.equal(
    await issues(base('{ listener: web, pool: p, match: { host: "*.a.test", path_prefix: /x } }')),
    "",
  );
});

test("client_timeout must outlast upstream_timeout", async () => {
  const l = (extra: string) =>
    base("{ listener: web, pool: p }").replace("listen: 127.0.0.1:0 }", `listen: 127.0.0.1:0${extra} }`);
  assert.match(
    await issues(l(", upstream_timeout: 90s")),
    /client_timeout: must be longer than upstream_timeout/,
  );
  assert.equal(await issues(l(", upstream_timeout: 90s, client_timeout: 2m")), "");
});

test("the http health check belongs to http pools", async () => {
  const sip = `
listeners: [ { name: s, protocol: sip, listen: 127.0.0.1:0 } ]
routes: [ { listener: s, pool: p } ]
pools:
  p: { servers: [ { address: 10.0.0.1 } ], health: { checks: [ { http: /healthz } ] } }
`;
  assert.match(await issues(sip), /http applies to http pools only/);
  assert.equal(
    await issues(
      base(
        "{ listener: web, pool: p }",
        "  p: { servers: [ { address: 10.0.0.1 } ], health: { checks: [ { http: /healthz, expect: 204 } ] } }",
      ),
    ),
    "",
  );
});

test("status page placeholders are HTML-escaped", () => {
  const out = renderStatusPage("{{host}} {{code}} {{nope}}", {
    code: 503,
    status: "s",
    host: `<script>"'&`,
    service: "",
    message: "",
  });
  assert.equal(out, "&lt;script&gt;&quot;&#39;&amp; 503 {{nope}}");
});
