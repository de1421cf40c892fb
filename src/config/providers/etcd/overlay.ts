import { isMap, isSeq } from "yaml";
import type { Overlay } from "../types.ts";
import type { EtcdBackend } from "./backend.ts";
import { gogetaOverlay, joinOverlays } from "./gogeta.ts";
import { nativeOverlay } from "./native.ts";
import type { ConfigText } from "./settings.ts";

/** The first http listener's name in a config text: gogeta's routes go there by default. */
function firstHttpListener(c: ConfigText): string | undefined {
  const ls = c.doc.get("listeners");
  if (!isSeq(ls)) return undefined;
  for (const l of ls.items)
    if (isMap(l) && l.get("protocol") === "http" && typeof l.get("name") === "string")
      return l.get("name") as string;
  return undefined;
}

/** A backend's routes and pools (native, and gogeta's when it names it) as an overlay. */
export function overlayOf(c: ConfigText, b: EtcdBackend, kvs: ReadonlyMap<string, string>): Overlay {
  const native = nativeOverlay(kvs, b.prefix);
  const g = b.settings.gogeta;
  if (!g) return native;
  const listener = g.listener ?? firstHttpListener(c);
  const domains = g.domains ?? "/domains";
  if (listener === undefined)
    return joinOverlays(native, {
      routes: [],
      pools: [],
      rejected: [
        {
          key: domains,
          reason: `etcd:${domains} (root): gogeta needs an http listener (none in the file)`,
        },
      ],
    });
  return joinOverlays(native, gogetaOverlay(kvs, { domains, services: g.services ?? "/services", listener }));
}
