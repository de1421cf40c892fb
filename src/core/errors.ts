/**
 * Typed errors with stable codes. Every error Trunkline raises or logs on purpose carries
 * one; `code` is part of the public contract (logs, tests, README "Error codes", which a
 * test keeps in step with this list).
 */
export const ErrorCodes = {
  CONFIG_INVALID: "E_CONFIG_INVALID",
  CONFIG_READ: "E_CONFIG_READ",
  USAGE: "E_USAGE",
  LISTEN: "E_LISTEN",
  ACCEPT: "E_ACCEPT",
  TLS_HANDSHAKE: "E_TLS_HANDSHAKE",
  TLS_RELOAD: "E_TLS_RELOAD",
  PENDING_LIMIT: "E_PENDING_LIMIT",
  CONNECTION_LIMIT: "E_CONNECTION_LIMIT",
  HEADER_INVALID: "E_AGI_HEADER_INVALID",
  HEADER_TOO_LONG: "E_AGI_HEADER_TOO_LONG",
  HEADER_TIMEOUT: "E_AGI_HEADER_TIMEOUT",
  NO_ROUTE: "E_NO_ROUTE",
  NO_SERVER: "E_NO_SERVER",
  ROUTE_SCRIPT: "E_ROUTE_SCRIPT",
  REINJECT_LOOP: "E_REINJECT_LOOP",
  CONNECT_FAILED: "E_CONNECT_FAILED",
  CONNECT_TIMEOUT: "E_CONNECT_TIMEOUT",
  LOCAL_RESOURCE: "E_LOCAL_RESOURCE",
  TLS_FAILED: "E_TLS_FAILED",
  UPSTREAM_GONE: "E_UPSTREAM_GONE",
  UPSTREAM_TIMEOUT: "E_UPSTREAM_TIMEOUT",
  CLIENT_GONE: "E_CLIENT_GONE",
  LINE_TOO_LONG: "E_LINE_TOO_LONG",
  HANGUP_GRACE: "E_HANGUP_GRACE",
  STALL_TIMEOUT: "E_STALL_TIMEOUT",
  SHUTDOWN: "E_SHUTDOWN",
  SYSLOG_INVALID: "E_SYSLOG_INVALID",
  ADMIN_BAD_REQUEST: "E_ADMIN_BAD_REQUEST",
  ADMIN_UNAUTHORIZED: "E_ADMIN_UNAUTHORIZED",
  ADMIN_NOT_FOUND: "E_ADMIN_NOT_FOUND",
  ADMIN_METHOD: "E_ADMIN_METHOD",
  ADMIN_TOO_LARGE: "E_ADMIN_TOO_LARGE",
  ADMIN_FORBIDDEN: "E_ADMIN_FORBIDDEN",
  ADMIN_MEDIA_TYPE: "E_ADMIN_MEDIA_TYPE",
  ADMIN_RELOAD_REJECTED: "E_ADMIN_RELOAD_REJECTED",
  ADMIN_STORE_DOWN: "E_ADMIN_STORE_DOWN",
  CTL_UNREACHABLE: "E_CTL_UNREACHABLE",
  CTL_BAD_ANSWER: "E_CTL_BAD_ANSWER",
  CTL_FAILED: "E_CTL_FAILED",
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

/** The stable code of an error: its own when it has one of ours, else the fallback. */
export function errorCode(err: unknown, fallback: ErrorCode): ErrorCode {
  return err instanceof TrunklineError ? err.code : fallback;
}
