/**
 * `;name=value` parameter lists (RFC 3261 §25.1 generic-param), shared by Via and the
 * address headers. A value may be a quoted string, where `;` does not separate.
 */

import type { SipError } from "./types.ts";

export type SipParam = readonly [name: string, value: string | undefined];

const PARAM_NAME_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/**
 * Parses `;a=1;b;c="x;y"` (the text from the first `;`, or empty). Names and values are kept
 * as written (a quoted value keeps its quotes); whitespace around `;` and `=` is dropped.
 */
export function parseParams(text: string): readonly SipParam[] | SipError {
  const out: SipParam[] = [];
  const rest = text.trim();
  if (rest === "") return out;
  if (rest.charCodeAt(0) !== 0x3b) return { code: "bad_params", message: `"${rest}" is not ;parameters` };
  let from = 1;
  let quoted = false;
  for (let i = 1; i <= rest.length; i++) {
    const c = i < rest.length ? rest.charCodeAt(i) : 0x3b;
    if (quoted) {
      if (i === rest.length) return { code: "bad_params", message: "unterminated quoted parameter value" };
      if (c === 0x5c) i++;
      else if (c === 0x22) quoted = false;
      continue;
    }
    if (c === 0x22) quoted = true;
    else if (c === 0x3b) {
      const one = param(rest.slice(from, i));
      if ("code" in one) return one;
      out.push(one);
      from = i + 1;
    }
  }
  return out;
}

function param(text: string): SipParam | SipError {
  const eq = text.indexOf("=");
  const name = (eq < 0 ? text : text.slice(0, eq)).trim();
  if (!PARAM_NAME_RE.test(name)) return { code: "bad_params", message: `"${text.trim()}" is no parameter` };
  if (eq < 0) return [name, undefined];
  const value = text.slice(eq + 1).trim();
  if (value === "") return { code: "bad_params", message: `parameter ${name} has an empty value` };
  return [name, value];
}

/** The value of the first parameter of that name (names compare case-insensitively). */
export function paramValue(params: readonly SipParam[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return params.find(([n]) => n.toLowerCase() === lower)?.[1];
}

export function hasParam(params: readonly SipParam[], name: string): boolean {
  const lower = name.toLowerCase();
  return params.some(([n]) => n.toLowerCase() === lower);
}
