// What a Trunkline target's name asks for, read in one place: `…-wN` runs N threads
// (`workers: N`), `…-ref` runs BENCH_TRUNKLINE_REF's build; `base` is the name without them
// (`trunkline-rr-node24-w2-ref` → `trunkline-rr-node24`, 2 threads, the other build).
export interface Variant {
  readonly base: string;
  readonly threads: number;
  readonly ref: boolean;
}

export function variant(name: string): Variant {
  const ref = name.endsWith("-ref");
  const plain = ref ? name.slice(0, -"-ref".length) : name;
  const w = /-w(\d+)$/.exec(plain);
  return { base: w ? plain.slice(0, w.index) : plain, threads: w ? Number(w[1]) : 1, ref };
}
