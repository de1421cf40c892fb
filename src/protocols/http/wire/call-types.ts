/**
 * What one upstream try (upstream-call.ts) needs of the request it carries and tells its
 * owner: the body as a pausable source, and the answer as it comes.
 */

import type { ResponseHead } from "./head.ts";

/** Where a request body comes from (the client's connection). */
export interface BodySource {
  /** Body bytes handed out so far (as framed: chunked stays chunked). */
  readonly taken: number;
  start(sink: BodySink): void;
  pause(): void;
  resume(): void;
  /** The try is over: bytes stop flowing to its sink. */
  stop(): void;
}

export interface BodySink {
  /** False asks the source to pause until resume(). */
  data(chunk: Buffer): boolean;
  end(): void;
}

/** What the request's owner hears. */
export interface CallHandler {
  /** An interim answer (1xx other than 100 and 101), before the final one; false pauses the server until resume(). */
  interim(h: ResponseHead): boolean;
  head(h: ResponseHead): void;
  /** Body bytes for the client; false pauses the server until resume(). */
  data(chunk: Buffer): boolean;
  done(): void;
  /** `responded`: the head had been given (the answer is cut); `stale`: a reused connection closed before any byte. */
  fail(err: Error, responded: boolean, stale: boolean): void;
}
