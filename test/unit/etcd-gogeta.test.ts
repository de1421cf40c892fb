import assert from "node:assert/strict";
import { test } from "node:test";
import { computeStatus, gogetaOverlay } from "../../src/config/providers/etcd/gogeta.ts";

const LAYOUT = { domains: "/domains", services: "/services", listener: "web" } as const;
const loc = (host: string, port: number) => JSON.stringify({ host, port });

/** One instance's keys; `status` absent means no status keys at all. */
function instance(
  svc: string,
  i: number,
  location: string | undefined,
  status?: { current?: string; expected?: string; alive?: string },
): [string, string][] {
  const base = `/services/${svc}/${i}`;
  const out: [string, string][] = [];
  if (location !== undefined) out.push([`${base}/location`, location]);
  if (status?.current !== undefined) out.push([`${base}/status/current`, status.current]);
  if (status?.expected !== undefined) out.push([`${base}/status/expected`, status.expected]);
  if (status?.alive !== undefined) out.push([`${base}/status/alive`, status.alive]);
  return out;
}

const domain = (d: string, type: string, value: string): [string, string][] => [
  [`/domains/${d}/type`, type],
  [`/domains/${d}/value`, value],
];

test("the computed status follows the seed's table", () => {
  const rows: [string | undefined, string | undefined, string | undefined, string][] = [
    ["started", "started", "1", "started"],
    ["started", "started", undefined, "error"],
    ["started", "started", "", "error"],
    ["starting", "started", undefined, "starting"],
    ["stopped", "passivated", undefined, "passivated"],
    ["stopped", "stopped", undefined, "stopped"],
    ["stopping", "stopped", undefined, "stopped"],
    ["started", "stopped", "1", "error"],
    ["weird", undefined, undefined, "error"],
    [undefined, undefined, undefined, "started"],
  ];
  for (const [c, e, a, want] of rows) assert.equal(computeStatus(c, e, a), want, `${c}/${e}/${a}`);
});

test("a service domain: a round-robin pool of the routable instances, a route on the host", () => {
  const kvs = new Map<string, string>([
    ...domain("app.example.com", "service", "app"),
    ...instance("app", 1, loc("10.0.0.1", 8001), { current: "started", expected: "started", alive: "x" }),
    ...instance("app", 2, loc("10.0.0.2", 8002)), // no status keys: started
    ...instance("app", 3, loc("10.0.0.3", 8003), { current: "started", expected: "started" }), // no heartbeat
    ...instance("app", 4, '{"host":"10.0.0.4"}'), // incomplete location
    ...instance("app", 5, undefined, { current: "started", expected: "started", alive: "x" }),
  ]);
  const o = gogetaOverlay(kvs, LAYOUT);
  // An invalid location is reported with its key (and the instance is not routable).
  assert.deepEqual(o.rejected, [
    {
      key: "/services/app/4/location",
      reason: "etcd:/services/app/4/location (root): port is not an integer from 1 to 65535",
    },
  ]);
  assert.deepEqual(o.pools, [
    {
      key: "/services/app",
      name: "gogeta.app",
      value: {
        balance: "round-robin",
        servers: [{ address: "10.0.0.1:8001" }, { address: "10.0.0.2:8002" }],
      },
    },
  ]);
  assert.deepEqual(o.routes, [
    {
      key: "/domains/app.example.com",
      name: "gogeta:app.example.com",
      value: {
        listener: "web",
        name: "gogeta:app.example.com",
        match: { host: "app.example.com" },
        pool: "gogeta.app",
        service: "app",
      },
    },
  ]);
});

test("nothing routable: the route carries the status, starting beats passivated beats stopped beats error", () => {
  const cases: [Record<string, string>[], string][] = [
    [
      [
        { current: "stopped", expected: "stopped" },
        { current: "starting", expected: "started" },
        { current: "stopped", expected: "passivated" },
      ],
      "starting",
    ],
    [
      [
        { current: "stopped", expected: "stopped" },
        { current: "stopped", expected: "passivated" },
        { current: "x" },
      ],
      "passivated",
    ],
    [[{ current: "x" }, { current: "stopping", expected: "stopped" }], "stopped"],
    [[{ current: "x" }], "error"],
  ];
  for (const [statuses, want] of cases) {
    const kvs = new Map<string, string>([
      ...domain("s.example.com", "service", "s"),
      ...statuses.flatMap((st, i) => instance("s", i, loc("10.0.0.9", 9000 + i), st)),
    ]);
    const o = gogetaOverlay(kvs, LAYOUT);
    assert.deepEqual(o.pools, []);
    const v = o.routes[0]?.value as { status?: string; pool?: string; wake?: string[] };
    assert.equal(v.status, want, JSON.stringify(statuses));
    assert.equal(v.pool, undefined);
    if (want !== "passivated") assert.equal(v.wake, undefined);
  }
});

test("a passivated service's route lists its passivated instances' status/expected keys to wake", () => {
  const kvs = new Map<string, string>([
    ...domain("p.example.com", "service", "p"),
    ...instance("p", 1, loc("10.0.0.1", 80), { current: "stopped", expected: "passivated" }),
    ...instance("p", 2, loc("10.0.0.2", 80), { current: "stopped", expected: "stopped" }),
    ...instance("p", 3, loc("10.0.0.3", 80), { current: "stopped", expected: "passivated" }),
  ]);
  const v = gogetaOverlay(kvs, LAYOUT).routes[0]?.value as {
    status: string;
    wake: string[];
    service: string;
  };
  assert.equal(v.status, "passivated");
  assert.equal(v.service, "p");
  assert.deepEqual(v.wake, ["/services/p/1/status/expected", "/services/p/3/status/expected"]);
});

test("uri domains: one server from the URL, tls for https, default ports; a bad URL is rejected", () => {
  const kvs = new Map<string, string>([
    ...domain("plain.example.com", "uri", "http://10.1.1.1:8080/some/path"),
    ...domain("secure.example.com", "uri", "https://backend.example.net/"),
    ...domain("bad.example.com", "uri", "ftp://x"),
    ...domain("half.example.com", "service", ""),
  ]);
  const o = gogetaOverlay(kvs, LAYOUT);
  assert.deepEqual(
    o.pools.map((p) => [p.name, p.value]),
    [
      ["gogeta.uri.plain.example.com", { balance: "round-robin", servers: [{ address: "10.1.1.1:8080" }] }],
      [
        "gogeta.uri.secure.example.com",
        { balance: "round-robin", servers: [{ address: "backend.example.net:443", tls: true }] },
      ],
    ],
  );
  assert.deepEqual(
    o.routes.map((r) => (r.value as { pool: string }).pool),
    ["gogeta.uri.plain.example.com", "gogeta.uri.secure.example.com"],
  );
  assert.deepEqual(
    o.rejected.map((r) => r.key),
    ["/domains/bad.example.com", "/domains/half.example.com"],
  );
});

test("two domains of one service share one pool; an unknown service answers the error page", () => {
  const kvs = new Map<string, string>([
    ...domain("a.example.com", "service", "shared"),
    ...domain("b.example.com", "service", "shared"),
    ...domain("c.example.com", "service", "ghost"),
    ...instance("shared", 1, loc("10.0.0.1", 80)),
  ]);
  const o = gogetaOverlay(kvs, LAYOUT);
  assert.equal(o.pools.length, 1);
  assert.deepEqual(
    o.routes.map((r) => [(r.value as { pool?: string }).pool, (r.value as { status?: string }).status]),
    [
      ["gogeta.shared", undefined],
      ["gogeta.shared", undefined],
      [undefined, "error"],
    ],
  );
});

test("the seed README's own sample, a location without an index, is the service's one instance", () => {
  // README of the seed, "Sample configuration": /services/myService/location, no index.
  const kvs = new Map<string, string>([
    ["/services/myService/location", loc("172.41.4.5", 42654)],
    ...domain("mycustomdomain.com", "service", "myService"),
  ]);
  const o = gogetaOverlay(kvs, LAYOUT);
  assert.deepEqual(o.rejected, []);
  assert.deepEqual(o.pools[0]?.value, { balance: "round-robin", servers: [{ address: "172.41.4.5:42654" }] });
  assert.equal((o.routes[0]?.value as { pool?: string } | undefined)?.pool, "gogeta.myService");

  // Beside indexed instances it is one more; its status keys sit under the service itself,
  // and its wake key is written there.
  const mixed = new Map<string, string>([
    ...domain("m.example.com", "service", "m"),
    ...instance("m", 1, loc("10.0.0.1", 80), { current: "stopped", expected: "passivated" }),
    ["/services/m/location", loc("10.0.0.9", 80)],
    ["/services/m/status/current", "stopped"],
    ["/services/m/status/expected", "passivated"],
    // Keys that name no instance field are not instances: no error page from them.
    ["/services/m/2/notes", "x"],
    ["/services/m/extra", "x"],
  ]);
  const v = gogetaOverlay(mixed, LAYOUT).routes[0]?.value as { status: string; wake: string[] };
  assert.equal(v.status, "passivated");
  assert.deepEqual(v.wake, ["/services/m/1/status/expected", "/services/m/status/expected"]);
  const up = new Map(mixed);
  up.set("/services/m/status/current", "started");
  up.set("/services/m/status/expected", "started");
  up.set("/services/m/status/alive", "1");
  assert.deepEqual(gogetaOverlay(up, LAYOUT).pools[0]?.value, {
    balance: "round-robin",
    servers: [{ address: "10.0.0.9:80" }],
  });
});
