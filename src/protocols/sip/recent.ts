/**
 * The last results of a pure parser, by the text it read. A proxy reads the same values several
 * times per message (the top Via, the Request-URI and Route URIs, the From and To addresses:
 * for routing, the loop key, the branch, the dialog); their results are immutable, so the
 * second read is a lookup. The lookup is a ring of the last `slots` texts compared with `===`:
 * a value read again is mostly the very string read before (its comparison is one pointer),
 * where a Map hashed every new text and rehashed as it grew and was emptied (Map get, set and
 * clear were 8% of the proxy's time, the ring's misses cost less). Bounded: a flood of
 * distinct values costs one parse each and never memory.
 */
export interface Recent<R> {
  (text: string): R;
  /**
   * Records the result for a text its caller has just written and knows the parse of (so its
   * first read is a lookup too). It must be exactly what the parser gives for that text.
   */
  remember(text: string, r: R): void;
}

export function recent<R>(parse: (text: string) => R, slots = 8): Recent<R> {
  const size = Math.max(1, Math.floor(slots));
  const texts: string[] = new Array<string>(size).fill("");
  const results: (R | undefined)[] = new Array<R | undefined>(size).fill(undefined);
  let next = 0;
  const remember = (text: string, r: R) => {
    if (text.length > MAX_KEY) return;
    texts[next] = text;
    results[next] = r;
    next = next + 1 === size ? 0 : next + 1;
  };
  const read = (text: string): R => {
    // "" is never a key: every slot starts as "" with no result.
    if (text.length > 0) for (let i = 0; i < size; i++) if (texts[i] === text) return results[i] as R;
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
