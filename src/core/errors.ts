/**
 * Typed errors with stable codes. Every error Trunkline raises on purpose is a
 * TrunklineError; `code` is part of the public contract (logs, tests, docs).
 */
export const ErrorCodes = {
  CONFIG_INVALID: "E_CONFIG_INVALID",
  CONFIG_READ: "E_CONFIG_READ",
  HEADER_INVALID: "E_AGI_HEADER_INVALID",
  HEADER_TOO_LONG: "E_AGI_HEADER_TOO_LONG",
  HEADER_TIMEOUT: "E_AGI_HEADER_TIMEOUT",
  NO_ROUTE: "E_NO_ROUTE",
  NO_SERVER: "E_NO_SERVER",
  ROUTE_SCRIPT: "E_ROUTE_SCRIPT",
  REINJECT_LOOP: "E_REINJECT_LOOP",
  CONNECT_FAILED: "E_CONNECT_FAILED",
  CONNECT_TIMEOUT: "E_CONNECT_TIMEOUT",
  TLS_FAILED: "E_TLS_FAILED",
  USAGE: "E_USAGE",
  SYSLOG_INVALID: "E_SYSLOG_INVALID",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class TrunklineError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TrunklineError";
    this.code = code;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
