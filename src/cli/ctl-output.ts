import { ErrorCodes } from "../core/errors.ts";
import { clean } from "./ctl-format.ts";

/**
 * ctl's own failures, beside the API's E_ADMIN_* ones, for scripts reading `--json`: the
 * admin API cannot be reached (exit 3), and an answer that is not the API's (exit 1).
 */
export const CtlErrorCodes = {
  USAGE: ErrorCodes.USAGE,
  UNREACHABLE: ErrorCodes.CTL_UNREACHABLE,
  BAD_ANSWER: ErrorCodes.CTL_BAD_ANSWER,
  FAILED: ErrorCodes.CTL_FAILED,
} as const;

export type CtlErrorCode = (typeof CtlErrorCodes)[keyof typeof CtlErrorCodes];

/**
 * Where ctl's words go. With --json, stdout gets exactly one JSON document whatever happens:
 * the API's answer, or `{"error": {"code", "message"}}` for a failure of ctl's own, and
 * stderr the same failure for a human; without it, tables on stdout and failures on stderr.
 */
export class CtlOutput {
  readonly json: boolean;

  constructor(json: boolean) {
    this.json = json;
  }

  /** The API's JSON document (already parsed once: it is one), as it came. */
  document(text: string): void {
    process.stdout.write(`${text.trimEnd()}\n`);
  }

  text(s: string): void {
    process.stdout.write(s);
  }

  /** A failure of ctl's own; `tail` (the usage) follows it for a human only. */
  fail(code: CtlErrorCode, message: string, tail = ""): void {
    if (this.json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
    process.stderr.write(`trunkline ctl: ${clean(message)}\n${this.json ? "" : tail}`);
  }

  /** The API's own error (`CODE: message`, then every problem of a rejected reload), for a human. */
  apiError(code: string, message: string, errors: unknown): void {
    let out = `trunkline ctl: ${clean(code)}: ${clean(message)}\n`;
    if (Array.isArray(errors)) for (const line of errors) out += `  ${clean(String(line))}\n`;
    process.stderr.write(out);
  }
}

/**
 * Whether --json was asked, read from the raw arguments when they do not parse (an unknown
 * option before it): the usage error is a JSON document too.
 */
export function asksJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).includes("--json");
}
