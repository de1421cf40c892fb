import { until } from "./proxy.ts";

/**
 * Waits until `value` has stopped growing for `quietMs` (the sender is held back), or reached
 * `cap` (it is not), bounded by `ms`. Returns the last value.
 */
export async function settles(
  value: () => number,
  cap: number,
  quietMs: number,
  ms: number,
): Promise<number> {
  let last = -1;
  let since = performance.now();
  await until(
    () => {
      const v = value();
      const now = performance.now();
      if (v !== last) {
        last = v;
        since = now;
      }
      return v >= cap || (v > 0 && now - since >= quietMs);
    },
    ms,
    "the sender held back or past its cap",
  );
  return last;
}
