/**
 * Characters a terminal acts on or that reorder what it shows: C0, DEL, C1 (CSI, OSC, NEL),
 * the line and paragraph separators, and the bidi marks, embeddings, overrides and isolates.
 * A string from the network must never reach an operator's terminal with them raw (a title
 * change, a forged `outcome=completed`, a server address displayed backwards).
 */
export const TERMINAL_UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
