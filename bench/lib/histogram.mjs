// A latency histogram for the benchmarks' load generators (plain JS: they start fast).

/**
 * Log-linear histogram of integer microseconds: exact below 1024 µs, then 512 sub-buckets
 * per power of two (under 0.2 % error), like HdrHistogram with 3 significant digits.
 */
export class Histogram {
  constructor() {
    this.counts = new Uint32Array(1024 + 32 * 512);
    this.total = 0;
    this.sum = 0;
    this.max = 0;
  }
  record(us) {
    const v = us < 0 ? 0 : Math.round(us);
    let idx;
    if (v < 1024) idx = v;
    else {
      const e = 31 - Math.clz32(v) - 9;
      idx = 1024 + (e - 1) * 512 + ((v >>> e) - 512);
    }
    if (idx >= this.counts.length) idx = this.counts.length - 1;
    this.counts[idx]++;
    this.total++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }
  /** Midpoint of the bucket holding quantile q, in µs. */
  quantile(q) {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        if (i < 1024) return i;
        const k = i - 1024;
        const e = Math.floor(k / 512) + 1;
        const m = (k % 512) + 512;
        return Math.min(this.max, (m + 0.5) * 2 ** e);
      }
    }
    return this.max;
  }
  summary() {
    const ms = (us) => (us === null ? null : Math.round(us) / 1000);
    return {
      count: this.total,
      p50_ms: ms(this.quantile(0.5)),
      p90_ms: ms(this.quantile(0.9)),
      p99_ms: ms(this.quantile(0.99)),
      max_ms: ms(this.total ? this.max : null),
      mean_ms: this.total ? Math.round(this.sum / this.total) / 1000 : null,
    };
  }
}
