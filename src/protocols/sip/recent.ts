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
  // Every miss compares all slots: a few, never a Map's worth (1 to MAX_SLOTS; NaN is 8).
  const size = Number.isFinite(slots) ? Math.min(MAX_SLOTS, Math.max(1, Math.floor(slots))) : 8;
  const texts: string[] = new Array<string>(size).fill("");
  const results: (R | undefined)[] = new Array<R | undefined>(size).fill(undefined);
  let next = 0;
  const put = (text: string, r: R) => {
    texts[next] = text;
    results[next] = r;
    next = next + 1 === size ? 0 : next + 1;
  };
  const remember = (text: string, r: R) => {
    // "" is never a key (every slot starts as "" with no result); a text already there is
    // given its new result in its own slot, so a read never finds an older one first.
    if (text.length === 0 || text.length > RECENT_MAX_KEY) return;
    for (let i = 0; i < size; i++)
      if (texts[i] === text) {
        results[i] = r;
        return;
      }
    put(text, r);
  };
  const read = (text: string): R => {
    if (text.length === 0 || text.length > RECENT_MAX_KEY) return parse(text);
    for (let i = 0; i < size; i++) if (texts[i] === text) return results[i] as R;
    // Parsed from a copy: the key and the strings of the result then hold no message alive.
    const copy = own(text);
    const r = parse(copy);
    put(copy, r);
    return r;
  };
  return Object.assign(read, { remember });
}

/**
 * Longer texts are parsed every time (no real value is this long; a flood's would be), and
 * not copied: a result parsed from one holds slices of its message, and is never remembered.
 */
export const RECENT_MAX_KEY = 1_024;

const MAX_SLOTS = 32;

/**
 * A string of its own with the same text. A value read from a message is a slice of the whole
 * message's text (up to 64 KiB on UDP): kept as it is in a cache, it would keep that text alive.
 */
export function own(text: string): string {
  return ` ${text}`.slice(1);
}
