/**
 * A small typed event bus, one per proxy (several proxies can share a process: tests, and
 * worker threads later). Emitters check `has()` before building a payload on hot paths, so
 * an event nobody listens to costs one property read. A listener that throws is isolated:
 * observability must never break the proxy.
 */
export class EventBus<E extends { [K in keyof E]: object }> {
  readonly #subs = new Map<keyof E, ((payload: never) => void)[]>();

  on<K extends keyof E>(name: K, fn: (payload: E[K]) => void): () => void {
    const list = this.#subs.get(name) ?? [];
    list.push(fn as (payload: never) => void);
    this.#subs.set(name, list);
    return () => {
      const cur = this.#subs.get(name);
      if (!cur) return;
      const i = cur.indexOf(fn as (payload: never) => void);
      if (i >= 0) cur.splice(i, 1);
      if (cur.length === 0) this.#subs.delete(name);
    };
  }

  has(name: keyof E): boolean {
    return this.#subs.has(name);
  }

  emit<K extends keyof E>(name: K, payload: E[K]): void {
    const list = this.#subs.get(name);
    if (!list) return;
    for (const fn of list) {
      try {
        (fn as (p: E[K]) => void)(payload);
      } catch {
        // An observer's bug is not the session's problem.
      }
    }
  }
}
