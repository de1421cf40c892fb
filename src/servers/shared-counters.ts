import type { CounterStore } from "./counters.ts";

/** Most servers one proxy can know at once when worker threads share the counts. */
export const SHARED_SLOTS = 16_384;

/**
 * The memory that the main thread and every worker thread map: per server slot, the
 * sessions in flight (Int32, the only cell several threads write, always through Atomics)
 * and the sessions placed since it was configured (BigInt64, Atomics.add); per thread and
 * slot, the sessions that thread holds (only that thread writes its row, so the main thread
 * can give back a dead worker's slots); per thread, the sessions it started.
 */
export interface SharedCounterMemory {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  /** Rows: the main thread is 0, worker i is i. */
  readonly threads: number;
}

export function sharedCounterMemory(threads: number, slots = SHARED_SLOTS): SharedCounterMemory {
  // active (4 B) + held (4 B per thread), padded to 8, then total (8 B) and started (8 B per thread).
  const int32Bytes = slots * 4 * (1 + threads);
  const pad = (8 - (int32Bytes % 8)) % 8;
  const bytes = int32Bytes + pad + slots * 8 + threads * 8;
  return { buffer: new SharedArrayBuffer(bytes), slots, threads };
}

/**
 * Session counts shared by threads: taking a slot is a compare-and-swap against the
 * server's effective cap, so `max_sessions` holds exactly whichever thread accepts the
 * connection. The owner (main thread) hands out slots; a worker is told them (`assign`).
 */
export class SharedSlotCounters implements CounterStore {
  readonly #active: Int32Array;
  readonly #held: Int32Array;
  readonly #total: BigInt64Array;
  readonly #started: BigInt64Array;
  readonly #row: number;
  readonly #slots: number;
  readonly #owner: boolean;
  /** Owner: slots by server key; worker: what the owner said. */
  readonly #bySlotKey = new Map<string, number>();
  readonly #free: number[] = [];
  /** Freed since the last settle(): a worker on an older generation may still take them. */
  readonly #quarantine: number[] = [];
  #next = 0;

  constructor(mem: SharedCounterMemory, row: number, owner: boolean) {
    const { buffer, slots, threads } = mem;
    this.#active = new Int32Array(buffer, 0, slots);
    this.#held = new Int32Array(buffer, slots * 4 * (1 + row), slots);
    const int32Bytes = slots * 4 * (1 + threads);
    const totalAt = int32Bytes + ((8 - (int32Bytes % 8)) % 8);
    this.#total = new BigInt64Array(buffer, totalAt, slots);
    this.#started = new BigInt64Array(buffer, totalAt + slots * 8, threads);
    this.#row = row;
    this.#slots = slots;
    this.#owner = owner;
  }

  alloc(key: string): number {
    const known = this.#bySlotKey.get(key);
    if (known !== undefined) return known;
    if (!this.#owner) throw new Error(`no shared slot for server ${key} yet`);
    const slot = this.#free.pop() ?? this.#next++;
    if (slot >= this.#slots)
      throw new Error(`more than ${this.#slots} servers: the shared session counters are full`);
    Atomics.store(this.#total, slot, 0n);
    this.#bySlotKey.set(key, slot);
    return slot;
  }

  free(slot: number): void {
    if (!this.#owner) return;
    for (const [k, s] of this.#bySlotKey) if (s === slot) this.#bySlotKey.delete(k);
    this.#quarantine.push(slot);
  }

  /**
   * Every worker runs the slots of the latest sync: the ones freed before it can be reused
   * once no session holds them (a worker may have taken one in the meantime).
   */
  settle(): void {
    for (let i = this.#quarantine.length - 1; i >= 0; i--) {
      const slot = this.#quarantine[i] as number;
      if (Atomics.load(this.#active, slot) !== 0) continue;
      this.#quarantine.splice(i, 1);
      this.#free.push(slot);
    }
  }

  /** The owner's slots by server key, for the workers. */
  assignments(): [string, number][] {
    return [...this.#bySlotKey];
  }

  /** A worker learns the owner's slots (replacing what it knew). */
  assign(slots: Iterable<readonly [string, number]>): void {
    this.#bySlotKey.clear();
    for (const [k, s] of slots) this.#bySlotKey.set(k, s);
  }

  active(slot: number): number {
    return Atomics.load(this.#active, slot);
  }

  total(slot: number): number {
    return Number(Atomics.load(this.#total, slot));
  }

  acquire(slot: number, cap: number): boolean {
    const active = this.#active;
    for (let spin = 0; ; spin++) {
      const a = Atomics.load(active, slot);
      if (cap > 0 && a >= cap) return false;
      if (Atomics.compareExchange(active, slot, a, a + 1) === a) break;
      // Another thread moved the count between the read and the swap: read again.
      if (spin > 1_000_000) return false;
    }
    this.#held[slot] = (this.#held[slot] ?? 0) + 1;
    Atomics.add(this.#total, slot, 1n);
    Atomics.add(this.#started, this.#row, 1n);
    return true;
  }

  release(slot: number): void {
    const h = this.#held[slot] ?? 0;
    // Only sessions this thread counted are given back: a double release cannot go below zero.
    if (h <= 0) return;
    this.#held[slot] = h - 1;
    Atomics.sub(this.#active, slot, 1);
  }
}

/** Reads and repairs the rows of other threads: the main thread's view of the workers. */
export class SharedCounterRows {
  readonly #mem: SharedCounterMemory;

  constructor(mem: SharedCounterMemory) {
    this.#mem = mem;
  }

  #held(row: number): Int32Array {
    return new Int32Array(this.#mem.buffer, this.#mem.slots * 4 * (1 + row), this.#mem.slots);
  }

  /** Sessions thread `row` holds now. */
  holding(row: number): number {
    let n = 0;
    for (const h of this.#held(row)) n += h;
    return n;
  }

  /** Sessions thread `row` has started since the proxy started (restarts included). */
  started(row: number): number {
    const { buffer, slots, threads } = this.#mem;
    const int32Bytes = slots * 4 * (1 + threads);
    const at = int32Bytes + ((8 - (int32Bytes % 8)) % 8) + slots * 8;
    return Number(Atomics.load(new BigInt64Array(buffer, at, threads), row));
  }

  /**
   * A worker died: the sessions it held are gone, so their counts go back to the servers
   * (the thread has exited, nothing writes its row any more). Returns how many.
   */
  releaseRow(row: number): number {
    const held = this.#held(row);
    const active = new Int32Array(this.#mem.buffer, 0, this.#mem.slots);
    let n = 0;
    for (let slot = 0; slot < held.length; slot++) {
      const h = held[slot] ?? 0;
      if (h === 0) continue;
      Atomics.sub(active, slot, h);
      held[slot] = 0;
      n += h;
    }
    return n;
  }
}
