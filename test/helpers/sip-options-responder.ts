import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";

/**
 * A tiny UDP SIP answerer for health tests: answers each request with `status` (echoing Via,
 * From, To, Call-ID and CSeq as RFC 3261 §8.2.6.2 asks), or says nothing when `status` is
 * undefined. `before` are extra datagrams sent first (a stray answer, a 100 Trying).
 */
export interface OptionsResponder {
  readonly port: number;
  status: number | undefined;
  before: ((request: string) => string)[];
  /** Requests received. */
  readonly hits: number;
  close(): Promise<void>;
}

/** The Via, From, To, Call-ID and CSeq lines of a request, for its response. */
export function echoedHeaders(request: string): string {
  return request
    .split("\r\n")
    .filter((l) => /^(via|v|from|f|to|t|call-id|i|cseq):/i.test(l))
    .map((l) => `${l}\r\n`)
    .join("");
}

export function sipResponse(
  request: string,
  status: number,
  reason = "Whatever",
  headers = echoedHeaders(request),
): string {
  return `SIP/2.0 ${status} ${reason}\r\n${headers}Content-Length: 0\r\n\r\n`;
}

export async function startOptionsResponder(status: number | undefined, port = 0): Promise<OptionsResponder> {
  const sock: Socket = createSocket("udp4");
  let hits = 0;
  const self = {
    status,
    before: [] as ((request: string) => string)[],
    get hits() {
      return hits;
    },
    get port() {
      return sock.address().port;
    },
    async close() {
      sock.close();
      await once(sock, "close");
    },
  };
  sock.on("message", (m, rinfo) => {
    hits++;
    const req = m.toString("latin1");
    for (const f of self.before) sock.send(f(req), rinfo.port, rinfo.address);
    if (self.status !== undefined) sock.send(sipResponse(req, self.status), rinfo.port, rinfo.address);
  });
  sock.bind(port, "127.0.0.1");
  await once(sock, "listening");
  return self;
}
