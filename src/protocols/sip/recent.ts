/**
 * The last results of a pure parser, by the text it read. A proxy reads the same values several
 * times per message (the Request-URI and Route URIs, the From and To addresses: for routing,
 * the loop key, the branch, the dialog); their results are immutable, so the second read is a
 * Map lookup. Bounded: emptied when full, so a flood of distinct values costs one parse each
 * and never memory.
 */
export function recent<R>(parse: (text: string) => R, max = 256): (text: string) => R {
  const seen = new Map<string, R>();
  return (text) => {
    const hit = seen.get(text);
    if (hit !== undefined) return hit;
    const r = parse(text);
    if (seen.size >= max) seen.clear();
    seen.set(text, r);
    return r;
  };
}
