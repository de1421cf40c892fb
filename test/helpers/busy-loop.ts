/**
 * Busy work on this thread in 20 ms slices, the event loop turning between them (timers, I/O),
 * until stopped: a saturated loop (utilization ~1) as a flood would make it. `each` runs at the
 * start of every slice.
 */
export function saturate(each?: () => void): { stop(): Promise<void> } {
  let on = true;
  let done: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    done = r;
  });
  const slice = () => {
    each?.();
    const end = performance.now() + 20;
    while (performance.now() < end) {
      // busy
    }
    if (on) setImmediate(slice);
    else done();
  };
  setImmediate(slice);
  return {
    stop() {
      on = false;
      return stopped;
    },
  };
}
