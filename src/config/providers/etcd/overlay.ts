import { isMap, isSeq, parseDocument } from "yaml";
import type { Overlay } from "../types.ts";
import type { EtcdBackend } from "./backend.ts";
import { gogetaOverlay, joinOverlays } from "./gogeta.ts";
import { nativeOverlay } from "./native.ts";

/** The first http listener's name in a config text: gogeta's routes go there by default. */
function firstHttpListener(text: string): string | undefined {
  try {
    const doc = parseDocument(text);
    const ls = doc.get("listeners");
    if (!isSeq(ls)) return undefined;
    for (const l of ls.items)
      if (isMap(l) && l.get("protocol") === "http" && typeof l.get("name") === "string")
        return l.get("name") as string;
  } catch {
    // the file's own validation reports it
  }
  return undefined;
}

/** A backend's routes and pools (native, and gogeta's when it names it) as an overlay. */
export function overlayOf(text: string, b: EtcdBackend, kvs: ReadonlyMap<string, string>): Overlay {
  const native = nativeOverlay(kvs, b.prefix);
  const g = b.settings.gogeta;
  if (!g) return native;
  const listener = g.listener ?? firstHttpListener(text);
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
