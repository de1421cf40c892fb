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
    if (text.length > MAX_KEY) return;
    if (seen.size >= max) seen.clear();
    seen.set(text, r);
  };
  const read = (text: string): R => {
    const hit = seen.get(text);
    if (hit !== undefined) return hit;
    if (text.length > MAX_KEY) return parse(text);
    // Parsed from a copy: the key and the strings of the result then hold no message alive.
    const copy = own(text);
    const r = parse(copy);
    remember(copy, r);
    return r;
  };
  return Object.assign(read, { remember });
}

/** Longer texts are parsed every time (no real value is this long; a flood's would be). */
const MAX_KEY = 1_024;

/**
 * A string of its own with the same text. A value read from a message is a slice of the whole
 * message's text (up to 64 KiB on UDP): kept as it is in a cache, it would keep that text alive.
 */
export function own(text: string): string {
  return ` ${text}`.slice(1);
}
