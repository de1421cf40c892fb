import type { ErrorCode } from "../../core/errors.ts";
import type { FailedTry } from "../../events/types.ts";
import type { GenerationView } from "../protocol.ts";
import type { HttpRoute } from "./config.ts";
import type { PageKind } from "./status-page.ts";
import type { UpstreamPools } from "./upstreams.ts";

/** A page the proxy answers itself. */
export interface OwnPage {
  readonly code: number;
  /** The reason phrase (RFC 9112 §4). */
  readonly reason: string;
  readonly retryAfter: boolean;
  readonly contentType: string;
  readonly body: Buffer;
}

/** How one request went, for its session.end event. */
export interface ExchangeRecord {
  readonly client: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly route: string | undefined;
  readonly pool: string | undefined;
  readonly server: string | undefined;
  readonly attempts: readonly FailedTry[];
  readonly durationMs: number;
  readonly setupMs: number | undefined;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly status: number;
  readonly by: "upstream" | "proxy";
  readonly error: { readonly message: string; readonly code: ErrorCode } | undefined;
}

/** What one exchange needs of its listener (exchange.ts depends on nothing wider). */
export interface ExchangeEnv {
  readonly listener: string;
  readonly proto: "http" | "https";
  readonly upstreams: UpstreamPools;
  current(): GenerationView;
  draining(): boolean;
  page(kind: PageKind, host: string, service: string): OwnPage;
  /** A passivated route with wake keys was hit (rate-limited by the listener). */
  wake(route: HttpRoute): void;
  attemptFailed(pool: string, server: string, error: string): void;
}

/** Called once when a request or tunnel is over, with how it went. */
export type EndFn = (r: ExchangeRecord) => void;
