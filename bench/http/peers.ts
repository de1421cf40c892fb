// The HTTP benchmark's processes: nginx as the origin (a fixed small body, so the origin is
// cheap and the same for every path), and the proxies in front of it: Trunkline from this
// build's dist/, HAProxy 2.6 (`mode http`) and nginx (`proxy_pass` with upstream keep-alive),
// each on one thread/worker as Trunkline runs today, each adding X-Forwarded-For as Trunkline does.

import { mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cachedNode24, NODE22_VERSION, workersSetup } from "../fastagi/workers.ts";
import { type Child, launch } from "../lib/children.ts";
import { shippedNodeFlags } from "../lib/shipped.ts";
import { envInt } from "../lib/stats.ts";
import { freePort, sleep } from "../lib/wait.ts";
import { tree } from "../sip/proctree.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const NGINX = "/usr/sbin/nginx";
export const HAPROXY = "/usr/sbin/haproxy";
const TRUNKLINE_MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
/** The origin's body: 128 bytes, a small JSON answer's size. */
export const BODY = "x".repeat(127);

export interface Peer {
  readonly name: string;
  readonly port: number;
  readonly note: string;
  /** Processes whose CPU counts as the proxy's (nginx: its worker; the master idles). */
  readonly pids: number[];
  readonly child: Child;
}

/** GET / until it answers 200, or throws after `timeoutMs` (or when the child exits). */
async function ready(child: Child, port: number, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const code = await new Promise<number>((resolve) => {
      const req = request({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(0));
      req.on("timeout", () => req.destroy());
      req.end();
    });
    if (code === 200) return;
    if (child.exited !== null) throw new Error(`${child.name} exited (${child.exited}):\n${child.tail()}`);
    if (Date.now() > end)
      throw new Error(`${child.name}: no 200 on :${port} within ${timeoutMs} ms:\n${child.tail()}`);
    await sleep(100);
  }
}

function nginxConf(dir: string, server: string, workers = 1): string {
  return [
    `worker_processes ${workers};`,
    "daemon off;",
    "master_process on;",
    `pid ${join(dir, "nginx.pid")};`,
    "error_log stderr warn;",
    "events { worker_connections 4096; }",
    "http {",
    "  access_log off;",
    "  keepalive_requests 1000000;",
    "  keepalive_timeout 60s;",
    `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;`,
    `  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
    server,
    "}",
    "",
  ].join("\n");
}

async function startNginx(
  dir: string,
  name: string,
  server: (port: number) => string,
  note: string,
  workers = 1,
): Promise<Peer> {
  const port = await freePort();
  const home = join(dir, name);
  mkdirSync(home, { recursive: true });
  const conf = join(home, "nginx.conf");
  writeFileSync(conf, nginxConf(home, server(port), workers));
  const child = launch(name, NGINX, ["-p", home, "-c", conf], { logFile: join(dir, `${name}.log`) });
  await ready(child, port);
  // The workers are the master's children: their CPU is the work.
  const pids = tree(child.pid).filter((p) => p !== child.pid);
  return { name, port, note, pids: pids.length > 0 ? pids : [child.pid], child };
}

export function startOrigin(dir: string): Promise<Peer> {
  return startNginx(
    dir,
    "origin",
    (port) =>
      `  server { listen 127.0.0.1:${port} reuseport backlog=4096; location / { default_type text/plain; return 200 "${BODY}\\n"; } }`,
    "nginx 1 worker, a 128-byte body",
  );
}

export function startNginxProxy(dir: string, origin: number): Promise<Peer> {
  return startNginx(
    dir,
    "nginx",
    (port) =>
      [
        `  upstream origin { server 127.0.0.1:${origin}; keepalive 64; }`,
        `  server { listen 127.0.0.1:${port} backlog=4096; location / {`,
        '    proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";',
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_buffering on; } }",
      ].join("\n"),
    `proxy_pass, upstream keepalive 64, ${THREADS} worker(s)`,
    THREADS,
  );
}

/**
 * HAProxy in `mode http`. `haproxy-log`: the same, with an access line per request as
 * Trunkline writes one (`option httplog` to its stdout, a file here as Trunkline's is), so that
 * the two can be compared doing the same work.
 */
export async function startHaproxy(dir: string, origin: number, name = "haproxy"): Promise<Peer> {
  const port = await freePort();
  const logs = name === "haproxy-log";
  const cfg = join(dir, `${name}.cfg`);
  writeFileSync(
    cfg,
    [
      "global",
      `  nbthread ${THREADS}`,
      "  maxconn 4096",
      ...(logs ? ["  log stdout format raw local0 info"] : []),
      "defaults",
      "  mode http",
      ...(logs ? ["  log global", "  option httplog"] : []),
      "  timeout connect 5s",
      "  timeout client 60s",
      "  timeout server 60s",
      "  option http-keep-alive",
      "  option forwardfor",
      "  http-reuse always",
      "frontend web",
      `  bind 127.0.0.1:${port}`,
      "  default_backend origin",
      "backend origin",
      `  server o1 127.0.0.1:${origin}`,
      "",
    ].join("\n"),
  );
  const child = launch(name, HAPROXY, ["-f", cfg, "-db"], { logFile: join(dir, `${name}.log`) });
  await ready(child, port);
  return {
    name,
    port,
    note: `mode http, nbthread ${THREADS}, http-reuse always, option forwardfor, ${logs ? "option httplog to stdout (a file): one access line per request" : "no log section: no access line"}`,
    pids: [child.pid],
    child,
  };
}

/** The Node floor: node:http + one undici Pool, nothing else (node-floor.mjs). */
export async function startNodeFloor(dir: string, origin: number): Promise<Peer> {
  const port = await freePort();
  const script = fileURLToPath(new URL("./node-floor.mjs", import.meta.url));
  const child = launch("node-floor", process.execPath, [script, String(port), String(origin)], {
    logFile: join(dir, "node-floor.log"),
  });
  await ready(child, port);
  return {
    name: "node-floor",
    port,
    note: "node:http + one undici Pool, no routing, log or metrics",
    pids: [child.pid],
    child,
  };
}

/** The raw Node floor: net sockets, a connection to the origin per client, no parsing (node-raw.mjs). */
export async function startNodeRaw(dir: string, origin: number): Promise<Peer> {
  const port = await freePort();
  const script = fileURLToPath(new URL("./node-raw.mjs", import.meta.url));
  const child = launch("node-raw", process.execPath, [script, String(port), String(origin)], {
    logFile: join(dir, "node-raw.log"),
  });
  await ready(child, port);
  return {
    name: "node-raw",
    port,
    note: "net sockets, one origin connection per client, bytes passed as read: no parsing, log or metrics",
    pids: [child.pid],
    child,
  };
}

/**
 * BENCH_WORKERS=N (2..16): every proxy on N threads: Trunkline `workers: N` (on a Node with
 * SO_REUSEPORT, the cached Node 24 when this one has none), HAProxy `nbthread N`, nginx N
 * worker processes. The origin and the Node floor stay on one.
 */
export const THREADS = envInt("BENCH_WORKERS", 1, 1, 16);

/**
 * Trunkline from this build: `trunkline` on the benchmark's own Node, `trunkline-node24` on a
 * Node 24 (the benchmark's own when it is one, else the cached one of scripts/ensure-node24.sh),
 * `trunkline-node22` on the cached Node 22 (one thread: Node 22 has reusePort, this is about
 * the runtime alone).
 */
export async function startTrunkline(dir: string, origin: number, name = "trunkline"): Promise<Peer> {
  const port = await freePort();
  let node = process.execPath;
  let nodeNote = process.version;
  if (name === "trunkline-node22" && !process.version.startsWith("v22.")) {
    if (THREADS > 1) throw new Error("trunkline-node22 runs one thread: not with BENCH_WORKERS");
    const cached = cachedNode24(ROOT, NODE22_VERSION);
    if ("error" in cached) throw new Error(cached.error);
    node = cached.path;
    nodeNote = `Node ${NODE22_VERSION}`;
  } else if (THREADS > 1 || name === "trunkline-node24") {
    const w = workersSetup(THREADS, ROOT);
    if (typeof w === "string") throw new Error(w);
    node = w.node.path;
    nodeNote = node === process.execPath ? process.version : "Node 24";
  }
  // BENCH_LOG_LEVEL=warn: no access line per request (what the log costs); `trunkline-nolog`
  // is that in the same run, beside HAProxy without its log.
  const level = name === "trunkline-nolog" ? "warn" : process.env.BENCH_LOG_LEVEL;
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(
    cfg,
    [
      ...(level ? [`log: { level: ${level} }`] : []),
      `workers: ${THREADS}`,
      `listeners: [ { name: web, protocol: http, listen: 127.0.0.1:${port} } ]`,
      "routes: [ { listener: web, pool: origin } ]",
      "pools:",
      "  origin:",
      `    servers: [ { address: 127.0.0.1:${origin} } ]`,
      "",
    ].join("\n"),
  );
  const main = name === "trunkline-ref" ? process.env.BENCH_TRUNKLINE_REF : TRUNKLINE_MAIN;
  if (!main) throw new Error("trunkline-ref needs BENCH_TRUNKLINE_REF=<another build's dist/cli/main.js>");
  const child = launch(name, node, [...shippedNodeFlags(main), main, "run", "-c", cfg, "--no-watch"], {
    logFile: join(dir, `${name}.log`),
  });
  await ready(child, port);
  return {
    name,
    port,
    note: `${name === "trunkline-ref" ? `${main}, ` : ""}${THREADS} Node thread(s) (${nodeNote}), ${level ? `log level ${level}` : "default log level (info, one access line per request)"}, metrics ${process.env.TRUNKLINE_METRICS === "off" ? "off" : "on"}`,
    pids: [child.pid],
    child,
  };
}
