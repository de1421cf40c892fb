/**
 * Where the registry keeps session counts: a slot per server. `SlotCounters` below for one
 * thread; `SharedSlotCounters` (shared-counters.ts) when worker threads share the counts.
 */
export interface CounterStore {
  /** A slot for the server `key` (a new one, or the one the main thread gave it). */
  alloc(key: string): number;
  /** The registry forgot the server: its slot may be reused (once no thread can touch it). */
  free(slot: number): void;
  active(slot: number): number;
  total(slot: number): number;
  /** Counts a session on the slot if it is under `cap` (0 = no cap); false when full. */
  acquire(slot: number, cap: number): boolean;
  release(slot: number): void;
}

/**
 * Session counters of every server as plain integer slots: one Int32Array of active
 * sessions and one Float64Array of totals, indexed by a server's slot. Only the registry
 * writes them (acquire/release). One thread: plain reads and writes.
 */
export class SlotCounters implements CounterStore {
  #active = new Int32Array(64);
  #total = new Float64Array(64);
  readonly #free: number[] = [];
  #next = 0;

  alloc(_key: string): number {
    const slot = this.#free.pop() ?? this.#next++;
    if (slot >= this.#active.length) {
      const active = new Int32Array(this.#active.length * 2);
      active.set(this.#active);
      const total = new Float64Array(this.#total.length * 2);
      total.set(this.#total);
      this.#active = active;
      this.#total = total;
    }
    this.#active[slot] = 0;
    this.#total[slot] = 0;
    return slot;
  }

  free(slot: number): void {
    this.#free.push(slot);
  }

  active(slot: number): number {
    return this.#active[slot] ?? 0;
  }

  total(slot: number): number {
    return this.#total[slot] ?? 0;
  }

  /** Counts a session on the slot if it is under `cap` (0 = no cap); false when full. */
  acquire(slot: number, cap: number): boolean {
    const a = this.#active[slot] ?? 0;
    if (cap > 0 && a >= cap) return false;
    this.#active[slot] = a + 1;
    this.#total[slot] = (this.#total[slot] ?? 0) + 1;
    return true;
  }

  release(slot: number): void {
    const a = this.#active[slot] ?? 0;
    if (a > 0) this.#active[slot] = a - 1;
  }
}
