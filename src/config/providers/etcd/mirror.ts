import type { Etcd3, Watcher } from "etcd3";
import { errorMessage } from "../../../core/errors.ts";
import { CALL_TIMEOUT_MS } from "./client.ts";

export interface MirrorState {
  readonly up: boolean;
  /** The etcd revision the mirror holds (0 before the first read). */
  readonly revision: number;
  readonly lastError: string | undefined;
}

/** Rounds whose read succeeded and watch failed that retry at the shortest wait. */
const WATCH_ONLY_QUICK = 6;

export interface MirrorOptions {
  readonly client: Etcd3;
  /** Key prefixes to mirror, e.g. ["/trunkline/", "/domains/", "/services/"]. */
  readonly prefixes: readonly string[];
  /** Keys that changed (put or deleted), after the mirror holds them. */
  readonly onChange: (keys: readonly string[]) => void;
  /** Up, down (with the reason), or a new revision. */
  readonly onState: (s: MirrorState) => void;
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(t));
}

/**
 * A local copy of the keys under some prefixes, kept current: read everything at one
 * revision R, watch from R+1. Any break (stream lost, watch canceled by a compaction, a call
 * timing out) tears the watches down, waits (backoff), and starts again from a full read,
 * so a change made while the watch was broken is in the next read: none is ever lost (the
 * seed re-watched without re-reading and lost them).
 */
export class EtcdMirror {
  readonly #o: MirrorOptions;
  readonly #kvs = new Map<string, string>();
  #revision = 0;
  #up = false;
  #lastError: string | undefined;
  #closed = false;
  #watchers: Watcher[] = [];
  /** Bumped on every restart: events of an older round's watchers are dropped. */
  #round = 0;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(opts: MirrorOptions) {
    this.#o = opts;
  }

  get kvs(): ReadonlyMap<string, string> {
    return this.#kvs;
  }

  get state(): MirrorState {
    return { up: this.#up, revision: this.#revision, lastError: this.#lastError };
  }

  /** Starts the read-watch loop; resolves after the first read succeeded or failed. */
  start(): Promise<void> {
    let first: () => void = () => {};
    const firstDone = new Promise<void>((r) => {
      first = r;
    });
    this.#loop = this.#run(first);
    return firstDone;
  }

  async #run(first: () => void): Promise<void> {
    const min = this.#o.backoffMinMs ?? 200;
    const max = this.#o.backoffMaxMs ?? 5_000;
    let backoff = min;
    // Rounds in a row whose read went through and whose watch did not start.
    let watchOnly = 0;
    while (!this.#closed) {
      const round = ++this.#round;
      const broken = new Promise<void>((r) => {
        this.#wake = r;
      });
      let read = false;
      try {
        const rev = await this.#readAll(round);
        read = true;
        if (round !== this.#round || this.#closed) continue;
        await this.#watchFrom(rev + 1, round);
        if (round !== this.#round || this.#closed) continue;
        backoff = min;
        watchOnly = 0;
        this.#setUp(true, undefined);
        first();
        await broken;
      } catch (err) {
        if (this.#closed) break;
        this.#setUp(false, errorMessage(err));
        first();
      }
      await this.#teardown();
      if (this.#closed) break;
      if (this.#up) this.#setUp(false, this.#lastError);
      // The store answered but the watch did not start or did not last: with several
      // endpoints, most likely it went to a dead one that the client has not yet learnt to pass
      // over (3 failures each). The first few such rounds retry at the shortest wait.
      if (read && watchOnly < WATCH_ONLY_QUICK) {
        watchOnly++;
        await this.#sleep(min);
        continue;
      }
      await this.#sleep(backoff);
      backoff = Math.min(max, backoff * 2);
    }
    first();
  }

  #setUp(up: boolean, err: string | undefined): void {
    const changed = up !== this.#up || err !== this.#lastError;
    this.#up = up;
    if (err !== undefined) this.#lastError = err;
    if (changed) this.#o.onState(this.state);
  }

  #broken(reason: string): void {
    this.#lastError = reason;
    this.#wake?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      t.unref();
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Every prefix at one revision (the first read's), then the copy is replaced whole. */
  async #readAll(round: number): Promise<number> {
    const next = new Map<string, string>();
    let rev: number | undefined;
    for (const p of this.#o.prefixes) {
      let b = this.#o.client.getAll().prefix(p);
      if (rev !== undefined) b = b.revision(rev);
      const r = await withTimeout(b.exec(), CALL_TIMEOUT_MS + 500, `etcd read of ${p}`);
      rev ??= Number(r.header.revision);
      for (const kv of r.kvs) next.set(kv.key.toString(), kv.value.toString());
    }
    if (round !== this.#round) return rev ?? 0;
    const changed: string[] = [];
    for (const [k, v] of next) if (this.#kvs.get(k) !== v) changed.push(k);
    for (const k of this.#kvs.keys()) if (!next.has(k)) changed.push(k);
    this.#kvs.clear();
    for (const [k, v] of next) this.#kvs.set(k, v);
    this.#revision = rev ?? 0;
    if (changed.length > 0) this.#o.onChange(changed);
    this.#o.onState(this.state);
    return this.#revision;
  }

  async #watchFrom(rev: number, round: number): Promise<void> {
    for (const p of this.#o.prefixes) {
      const w = this.#o.client.watch().prefix(p).startRevision(String(rev)).watcher();
      this.#watchers.push(w);
      // The client would resume on its own; we re-read instead, so nothing made in the gap is lost.
      w.on("disconnected", (e) => {
        if (round === this.#round) this.#broken(`etcd watch lost: ${errorMessage(e)}`);
      });
      // A compaction past our revision cancels the watch: the history we need is gone, re-read.
      w.on("error", (e) => {
        if (round === this.#round) this.#broken(`etcd watch canceled: ${errorMessage(e)}`);
      });
      w.on("data", (res) => {
        if (round !== this.#round) return;
        const changed: string[] = [];
        for (const ev of res.events) {
          const k = ev.kv.key.toString();
          if (ev.type === "Delete") this.#kvs.delete(k);
          else this.#kvs.set(k, ev.kv.value.toString());
          changed.push(k);
        }
        const r = Number(res.header.revision);
        if (r > this.#revision) this.#revision = r;
        if (changed.length > 0) this.#o.onChange(changed);
      });
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          w.once("connected", () => resolve());
          w.once("error", reject);
          w.once("disconnected", reject);
        }),
        CALL_TIMEOUT_MS,
        `etcd watch of ${p}`,
      );
    }
  }

  async #teardown(): Promise<void> {
    const ws = this.#watchers;
    this.#watchers = [];
    for (const w of ws) {
      w.removeAllListeners("data");
      w.on("error", () => {});
      await withTimeout(w.cancel(), 1_000, "watch cancel").catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#round++;
    this.#wake?.();
    await this.#loop;
  }
}
