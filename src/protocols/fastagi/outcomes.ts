import { type ErrorCode, ErrorCodes } from "../../core/errors.ts";

/**
 * How a session ended. Only `completed` is a normal end (logged at info); see README, Logging.
 * - completed: the server closed once every command it sent had its reply, or after
 *   Asterisk's HANGUP (the channel hung up; res_agi.c then waits for the server to close);
 * - client_gone: Asterisk left (FIN or reset) while the server was still in session;
 * - upstream_gone: the server closed or reset with a command unanswered or a line cut short;
 * - failure_sent: the server sent a line starting "FAILURE" (AGISTATUS=FAILURE);
 * - hangup_grace_expired, stall_timeout: a bound of the relay ended it;
 * - the rest end a session before or instead of the relay, or on a transport fault.
 */
export type Outcome =
  | "completed"
  | "client_gone"
  | "upstream_gone"
  | "failure_sent"
  | "hangup_grace_expired"
  | "stall_timeout"
  | "failure_no_server"
  | "failure_no_route"
  | "failure_route_error"
  | "bad_header"
  | "header_timeout"
  | "upstream_error"
  | "client_error"
  | "line_too_long"
  | "closed";

/** The stable code logged with each outcome's error (README "Error codes"). */
export const OUTCOME_CODES: Readonly<Record<Outcome, ErrorCode | undefined>> = {
  completed: undefined,
  upstream_gone: ErrorCodes.UPSTREAM_GONE,
  failure_sent: undefined,
  hangup_grace_expired: ErrorCodes.HANGUP_GRACE,
  stall_timeout: ErrorCodes.STALL_TIMEOUT,
  failure_no_server: ErrorCodes.NO_SERVER,
  failure_no_route: ErrorCodes.NO_ROUTE,
  failure_route_error: ErrorCodes.ROUTE_SCRIPT,
  bad_header: ErrorCodes.HEADER_INVALID,
  header_timeout: ErrorCodes.HEADER_TIMEOUT,
  client_gone: ErrorCodes.CLIENT_GONE,
  upstream_error: ErrorCodes.UPSTREAM_GONE,
  client_error: ErrorCodes.CLIENT_GONE,
  line_too_long: ErrorCodes.LINE_TOO_LONG,
  closed: ErrorCodes.SHUTDOWN,
};

/** Socket errors that only say the peer went away (a reset, a write after its close). */
const PEER_GONE_CODES: ReadonlySet<string> = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT"]);

/** True when `err` only says the peer went away: a `*_gone` outcome, not an error of its own. */
export function peerGone(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined && PEER_GONE_CODES.has(code);
}

/**
 * How a relay ended, once both sockets have closed: an outcome already given (a bound, a
 * fault, the shutdown) stands; else a FAILURE line from the server; else who left first and
 * whether the session was settled then. `unsettled` says why the server's close came
 * mid-command (lines.ts), `peerError` is the socket error of the side that left.
 */
export function relayOutcome(
  given: Outcome | undefined,
  failureSent: boolean,
  clientFirst: boolean,
  hangupSeen: boolean,
  unsettled: string | undefined,
): Outcome {
  if (given !== undefined) return given;
  if (failureSent) return "failure_sent";
  // The channel hung up and Asterisk left (AGIEXITONHANGUP=yes): a normal end.
  if (clientFirst) return hangupSeen ? "completed" : "client_gone";
  return unsettled === undefined ? "completed" : "upstream_gone";
}

/** The error logged with `client_gone` / `upstream_gone`: why the session was unsettled, and the socket error. */
function goneError(
  outcome: "client_gone" | "upstream_gone",
  unsettled: string | undefined,
  peerError: string | undefined,
): string | undefined {
  const why = outcome === "upstream_gone" ? unsettled : undefined;
  return why && peerError ? `${why} (${peerError})` : (why ?? peerError);
}

/** The error a relay's end is logged with: the one given, or for a peer gone, why and how. */
export function relayError(
  outcome: Outcome,
  given: string | undefined,
  unsettled: string | undefined,
  peerError: string | undefined,
): string | undefined {
  return outcome === "client_gone" || outcome === "upstream_gone"
    ? goneError(outcome, unsettled, peerError)
    : given;
}
