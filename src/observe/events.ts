import { ErrorCodes } from "../core/errors.ts";
import type { Log, RecordFn } from "../core/types.ts";
import type { EventBus } from "../events/bus.ts";
import type { SessionEnded, TrunklineEvents } from "../events/types.ts";
import type { ServerChange } from "../servers/types.ts";
import { LogThrottle } from "./log-throttle.ts";
import { sessionFields, sessionJson } from "./session-json.ts";

/** A record's fields for syslog's MSGID (its event): the line's fields come as JSON. */
const SESSION = Object.freeze({ event: "session" });

/** One line per session at its end (session-json.ts). */
export function logSession(log: Log, r: SessionEnded, record?: RecordFn): void {
  if (record) {
    // At log level warn, a session that went well writes nothing: its line is not made.
    const level = r.ok ? "info" : "warn";
    if (record.enabled(level)) record(level, SESSION, "session ended", sessionJson(r));
    return;
  }
  const fields = sessionFields(r);
  if (r.ok) log.info(fields, "session ended");
  else log.warn(fields, "session ended");
}

/** Server state changes are logged once each, with the layer that made them and the reason. */
export function logServerChange(log: Log, c: ServerChange): void {
  const pool = c.pools[0];
  const fields: Record<string, unknown> = {
    event: "server_state",
    pool,
    server: c.server,
    what: c.what,
    layer: c.layer,
    from: c.from,
    to: c.to,
    reason: c.reason,
  };
  if (c.pools.length > 1) fields.pools = c.pools;
  const where = pool === undefined ? "" : ` in pool ${c.pools.join(", ")}`;
  const bad = (c.what === "health" || c.what === "passive") && c.to === "down";
  if (bad) log.warn(fields, `server ${c.server}${where} is down`);
  else log.info(fields, `server ${c.server}${where}: ${c.what} ${c.from} -> ${c.to}`);
}

/**
 * Listener errors that come one per connection, and their messages: a flood of them logs at
 * most one line a second per listener and code, then one line with how many more came
 * (`suppressed`); `trunkline_listener_errors_total` counts every one.
 */
const PER_CONNECTION: Partial<Record<string, string>> = {
  [ErrorCodes.TLS_HANDSHAKE]: "TLS handshake with client failed",
  [ErrorCodes.PENDING_LIMIT]: "too many connections still in their handshake or header",
  [ErrorCodes.CONNECTION_LIMIT]: "too many connections open: max_connections reached",
};

const NO_VERDICT = "health check not counted: this host is out of descriptors or buffers";

/** Maps every event of one proxy to log lines. The only place protocol events become logs. */
export function attachLogging(bus: EventBus<TrunklineEvents>, log: Log, record?: RecordFn): () => void {
  // What a throttle left out is said at the end of its second, in one line per key.
  const checks = new LogThrottle((key, n) => {
    const [server, check] = key.split("\n");
    log.warn({ server, check, code: ErrorCodes.LOCAL_RESOURCE, suppressed: n }, `${n} more ${NO_VERDICT}`);
  });
  const listeners = new LogThrottle((key, n) => {
    const [listener, code] = key.split("\n");
    log.warn({ listener, code, suppressed: n }, `${n} more: ${PER_CONNECTION[code ?? ""]}`);
  });
  const offs = [
    bus.on("session.end", (r) => logSession(log, r, record)),
    bus.on("server.state", (c) => logServerChange(log, c)),
    bus.on("health.probe", (p) => {
      if (p.check === "agent" && !p.ok)
        log.debug({ pools: p.pools, server: p.server, reason: p.reason }, "agent check: no information");
      if (p.noVerdict && checks.pass(`${p.server}\n${p.check}`))
        log.warn(
          {
            pools: p.pools,
            server: p.server,
            check: p.check,
            reason: p.reason,
            code: ErrorCodes.LOCAL_RESOURCE,
          },
          NO_VERDICT,
        );
      if (p.agentErrors && p.agentErrors.length > 0)
        log.warn({ pools: p.pools, server: p.server, words: p.agentErrors }, "agent reports an error");
    }),
    bus.on("esl.state", (e) => {
      const fields = { event: "esl", pool: e.pools[0], server: e.server, state: e.state, reason: e.reason };
      if (e.state === "up") log.info(fields, `event socket of ${e.server} is up`);
      // The first failure shows as the server going down (server_state); retries are detail.
      else if (e.wasUp)
        log.warn({ ...fields, retry_in_ms: e.retryInMs }, `event socket of ${e.server} is down`);
      else log.debug({ ...fields, retry_in_ms: e.retryInMs }, `event socket of ${e.server}: attempt failed`);
    }),
    bus.on("esl.warning", (e) => {
      log.warn(
        { event: "esl", pool: e.pools[0], server: e.server, reason: e.message },
        `event socket of ${e.server}: ${e.message}; its last figures stand`,
      );
    }),
    bus.on("reload", (r) => {
      if (r.outcome === "applied")
        log.info(
          { event: "reload", reason: r.reason, config: r.source, generation: r.generation },
          "configuration reloaded",
        );
      else if (r.outcome === "unchanged")
        log.info({ event: "reload", reason: r.reason }, "configuration unchanged");
      else
        log.error(
          { event: "reload", reason: r.reason, error: r.error, code: r.code },
          "configuration rejected; the running configuration stays",
        );
    }),
    bus.on("listener.listening", (l) => {
      log.info({ listener: l.listener, listen: l.listen, tls: l.tls, port: l.port }, "listening");
      if (l.warning !== undefined) log.warn({ listener: l.listener, event: "listener_warning" }, l.warning);
    }),
    bus.on("listener.error", (e) => {
      const perConnection = PER_CONNECTION[e.code];
      if (perConnection !== undefined && !listeners.pass(`${e.listener}\n${e.code}`)) return;
      const fields = {
        listener: e.listener,
        code: e.code,
        err: e.error,
        ...(e.client ? { client: e.client } : {}),
      };
      if (perConnection !== undefined) log.warn(fields, perConnection);
      else if (e.code === ErrorCodes.TLS_RELOAD)
        log.error(fields, "TLS certificates could not be loaded; keeping the previous ones");
      else log.error(fields, "listener error");
    }),
    bus.on("listener.tls_reloaded", (e) => log.info({ listener: e.listener }, "TLS certificates reloaded")),
    // With the Node and its flags: npm start and the systemd units size V8's young generation.
    bus.on("proxy.started", (e) =>
      log.info({ ...e, node: process.version, node_flags: process.execArgv.join(" ") }, "trunkline started"),
    ),
    bus.on("proxy.stopped", () => log.info({ event: "shutdown" }, "trunkline stopped")),
    bus.on("proxy.descriptors", (e) =>
      log.warn(
        { event: "descriptors", ...e },
        "the listeners' caps need more descriptors than ulimit -n: raise it (LimitNOFILE= under systemd) or lower max_connections",
      ),
    ),
    bus.on("worker", (w) => {
      const f = { event: "worker", ...w };
      if (w.kind === "started") log.info(f, `worker ${w.worker} started`);
      else if (w.kind === "exited")
        log.error(f, `worker ${w.worker} died (${w.error}); ${w.sessions} sessions lost; restarting it`);
      else if (w.kind === "restart_failed") log.error(f, `worker ${w.worker} cannot restart: ${w.error}`);
      else log.warn(f, w.error ?? "workers not started");
    }),
    bus.on("sip.overload", (e) => {
      const f = { event: "sip_overload", ...e };
      if (e.shedding)
        log.warn(f, "SIP listener overloaded: its thread is saturated; new calls get 503 until it keeps up");
      else log.info(f, "SIP listener no longer overloaded: new calls taken again");
    }),
    bus.on("sip.warm_up", (e) => {
      const f = { event: "sip_warm_up", ...e };
      if (e.error !== undefined) log.warn(f, `SIP warm-up failed, skipped: ${e.error}`);
      else
        log.info(
          f,
          `SIP code warmed up: ${e.calls} synthetic calls in ${e.ms} ms before listener ${e.listener} bound`,
        );
    }),
    bus.on("host.setting", (e) =>
      log.warn({ event: "host_setting", setting: e.setting, value: e.value }, e.warning),
    ),
    ...logEtcd(bus, log),
  ];
  return () => {
    for (const off of offs) off();
    checks.close();
    listeners.close();
  };
}

/** etcd as a config source: its state, ignored keys, cache, cluster lease and wake writes. */
function logEtcd(bus: EventBus<TrunklineEvents>, log: Log): (() => void)[] {
  return [
    bus.on("etcd.source", (e) => {
      const fields = {
        event: "config_source",
        kind: "etcd",
        ...(e.when === "start" ? { endpoints: e.endpoints } : {}),
        state: e.state,
        ...(e.when === "change" && e.state === "down" ? { error: e.error } : {}),
        revision: e.revision,
      };
      if (e.state === "up") log.info(fields, "etcd config source up");
      else if (e.when === "change")
        log.warn(fields, "etcd config source down: keeping the last good config; retrying");
      else
        log.warn(
          { ...fields, error: e.error, cache: e.cache },
          e.fromCache
            ? "etcd unreachable at start: serving its cached content; retrying"
            : "etcd unreachable at start and no cache: serving the file alone; retrying",
        );
    }),
    bus.on("etcd.cache_error", (e) =>
      log.warn(
        { event: "config_source", kind: "etcd", cache: e.cache, error: e.error },
        "cannot write the etcd cache (set config.etcd.cache to a writable file)",
      ),
    ),
    bus.on("etcd.invalid_key", (e) => {
      if (e.reason === undefined)
        log.info({ event: "config_invalid_key", key: e.key }, "etcd key no longer ignored");
      else
        log.warn(
          { event: "config_invalid_key", key: e.key, reason: e.reason },
          "etcd key ignored: invalid value",
        );
    }),
    bus.on("etcd.lease_lost", (e) =>
      log.warn({ event: "cluster", id: e.id, error: e.error }, "etcd lease lost: registering again"),
    ),
    bus.on("etcd.wake", (e) => {
      if (e.error === undefined)
        log.info({ event: "wake", key: e.key }, "service woken: expected set to started");
      else log.warn({ event: "wake", key: e.key, error: e.error }, "cannot wake the service");
    }),
    bus.on("etcd.settings", (e) => {
      const fields = { event: "config_source", kind: "etcd", endpoints: e.endpoints };
      if (e.outcome === "applied") log.info(fields, "config.etcd changed: now reading the new etcd");
      else if (e.outcome === "restart")
        log.warn({ ...fields, error: e.error }, "config.etcd changed: restart to apply");
      else
        log.warn(
          { ...fields, error: e.error },
          "config.etcd changed but the new etcd cannot be read: keeping the old one",
        );
    }),
  ];
}
