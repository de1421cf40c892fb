import { ScriptRunner } from "../../core/script-runner.ts";
import type { ProtocolRoutes } from "../protocol.ts";
import type { RouteTable } from "./router.ts";
import type { FastAgiRoute } from "./types.ts";

function scriptKey(r: FastAgiRoute): string | undefined {
  return r.script ? `${r.script.file}#${r.script.exportName}#${r.script.digest}` : undefined;
}

/**
 * FastAGI's routes for one generation: the route table and the route scripts' workers.
 * Workers start when the generation is built (not on the first session), and a script
 * whose file and export are unchanged keeps its worker across reloads.
 */
export class FastAgiRoutes implements ProtocolRoutes {
  readonly table: RouteTable;
  readonly #runners = new Map<string, ScriptRunner>();
  /** Runners a later generation took over: not ours to close. */
  readonly #handedOn = new Set<ScriptRunner>();

  constructor(routes: readonly FastAgiRoute[], hasPool: (name: string) => boolean, previous?: FastAgiRoutes) {
    for (const r of routes) {
      const key = scriptKey(r);
      if (!key || !r.script || this.#runners.has(key)) continue;
      const script = r.script;
      const kept = previous
        ? previous.#take(key, (k) => k.reusableFor(script.file, script.exportName, script.digest))
        : undefined;
      if (kept) {
        kept.setTimeoutMs(r.script.timeoutMs);
        this.#runners.set(key, kept);
      } else {
        const runner = new ScriptRunner(r.script.file, r.script.exportName, r.script.timeoutMs, {
          digest: r.script.digest,
        });
        void runner.start();
        this.#runners.set(key, runner);
      }
    }
    const byIndex = new Map<number, ScriptRunner>();
    for (const r of routes) {
      const key = scriptKey(r);
      const runner = key ? this.#runners.get(key) : undefined;
      if (runner) byIndex.set(r.index, runner);
    }
    this.table = {
      routes,
      hasPool,
      runScript: (route, request) => {
        const runner = byIndex.get(route.index);
        return runner
          ? runner.call(request)
          : Promise.resolve({ ok: false, error: "route script not loaded" });
      },
    };
  }

  /** The script workers of this generation (tests and the admin API look at them). */
  get runners(): readonly ScriptRunner[] {
    return [...this.#runners.values()];
  }

  /** Hands a worker on to the next generation, if it can serve there. */
  #take(key: string, usable: (r: ScriptRunner) => boolean): ScriptRunner | undefined {
    const r = this.#runners.get(key);
    if (!r || !usable(r)) return undefined;
    this.#handedOn.add(r);
    return r;
  }

  /** The longest script timeout, and a little: how long in-flight calls may still need their workers. */
  get lingerMs(): number {
    let max = 0;
    for (const r of this.#runners.values()) max = Math.max(max, r.timeoutMs);
    return max + 100;
  }

  /** Each runner not handed on closes once its calls in flight are answered (bounded). */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#runners.values()].filter((r) => !this.#handedOn.has(r)).map((r) => r.closeWhenIdle()),
    );
  }
}
