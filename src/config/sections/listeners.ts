import { z } from "zod";
import { formatHostPort, parseHostPort } from "../../core/address.ts";
import type { SnapshotContext } from "../context.ts";
import { listenerCommon, zodIssues } from "../schema.ts";
import type { ProtocolConfigSpec } from "../spec.ts";
import type { ListenerConfig } from "../types.ts";
import { buildListenerTls } from "./listener-tls.ts";

/** Listeners: common keys, then each against its protocol's own keys and defaults. */
export function buildListeners(
  raw: readonly Record<string, unknown>[],
  protocols: ReadonlyMap<string, ProtocolConfigSpec>,
  ctx: SnapshotContext,
): { listeners: ListenerConfig[]; broken: Set<string> } {
  const out: ListenerConfig[] = [];
  // Listeners reported invalid: routes naming them are not reported again.
  const broken = new Set<string>();
  const names = new Set<string>();
  const addrs = new Set<string>();
  raw.forEach((item, i) => {
    const path = ["listeners", i];
    const spec = typeof item.protocol === "string" ? protocols.get(item.protocol) : undefined;
    if (typeof item.name === "string") broken.add(item.name);
    if (!spec) {
      ctx.fail(
        [...path, "protocol"],
        `unknown protocol ${JSON.stringify(item.protocol)} (use ${[...protocols.keys()].join(", ")})`,
      );
      return;
    }
    const parsed = z.strictObject({ ...listenerCommon, ...spec.listenerShape }).safeParse(item);
    if (!parsed.success) {
      for (const is of zodIssues(parsed.error, path)) ctx.fail(is.path, is.message);
      return;
    }
    const l = parsed.data as Record<string, unknown> & z.output<z.ZodObject<typeof listenerCommon>>;
    broken.delete(l.name);
    if (names.has(l.name)) ctx.fail([...path, "name"], `duplicate listener name "${l.name}"`);
    names.add(l.name);
    const parsedAddr = parseHostPort(l.listen, spec.defaultPort);
    // A bad address is reported; the listener still counts for its routes' checks.
    if (typeof parsedAddr === "string") ctx.fail([...path, "listen"], parsedAddr);
    const hp = typeof parsedAddr === "string" ? { host: "", port: 0 } : parsedAddr;
    const key = formatHostPort(hp);
    if (typeof parsedAddr !== "string" && hp.port !== 0 && addrs.has(key))
      ctx.fail([...path, "listen"], `${key} is already used by another listener`);
    addrs.add(key);
    if (l.tls?.sni !== undefined && spec.tlsSni !== true)
      ctx.fail(
        [...path, "tls", "sni"],
        `${spec.name} listeners take one certificate; SNI certificates are for http listeners`,
      );
    const tls = l.tls === undefined ? undefined : buildListenerTls(l.tls, [...path, "tls"], ctx);
    out.push({
      name: l.name,
      protocol: spec.name,
      listen: hp,
      tls,
      options: spec.buildListenerOptions(l, path, ctx),
    });
  });
  return { listeners: out, broken };
}
