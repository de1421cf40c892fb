/**
 * The last results of a pure parser, by the text it read. A proxy reads the same values several
 * times per message (the Request-URI and Route URIs, the From and To addresses: for routing,
 * the loop key, the branch, the dialog); their results are immutable, so the second read is a
 * Map lookup. Bounded: emptied when full, so a flood of distinct values costs one parse each
 * and never memory.
 */
export interface Recent<R> {
  (text: string): R;
  /**
   * Records the result for a text its caller has just written and knows the parse of (so its
   * first read is a lookup too). It must be exactly what the parser gives for that text.
   */
  remember(text: string, r: R): void;
}

export function recent<R>(parse: (text: string) => R, max = 256): Recent<R> {
  const seen = new Map<string, R>();
  const remember = (text: string, r: R) => {
    if (seen.size >= max) seen.clear();
    seen.set(text, r);
  };
  const read = (text: string): R => {
    const hit = seen.get(text);
    if (hit !== undefined) return hit;
    const r = parse(text);
    remember(text, r);
    return r;
  };
  return Object.assign(read, { remember });
}
