// Backpressure through the proxy for ordinary requests (issue #14: bodies streamed both ways,
// never buffered whole). http-attack-backpressure.test.ts does it for a refused upgrade; here:
// - an answer of 256 MB (Content-Length, then chunked) to a client that reads nothing: what
//   the origin manages to push into the proxy settles at a bounded figure (the origin is made
//   to wait, not drained into the proxy's memory); once the client reads, every byte arrives;
// - an upload of 256 MB (Content-Length, then chunked) to an origin that reads the head and
//   then nothing: what the proxy accepts from the client settles at a bounded figure; once
//   the origin reads, every byte arrives, in order (count and SHA-256).
// Each figure counts the bytes a socket handed to the kernel, so it includes the kernel's
// buffers on the way (a few MB per socket on loopback); a proxy that ignored backpressure
// would take the whole 256 MB within a second or two.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { type IncomingMessage, request } from "node:http";
import type { Socket } from "node:net";
import { test } from "node:test";
import { startOrigin } from "../helpers/http-origin.ts";
import { until } from "../helpers/proxy.ts";
import { proxyTo, pushed, RawClient, startTunnelOrigin, within } from "../helpers/raw-http.ts";
import { settles } from "../helpers/settles.ts";

const MB = 1024 * 1024;
const TOTAL = 256 * MB;
/**
 * What may be in flight (the proxy's own buffers and the kernel's on both of its sides) while
 * one side waits. Measured: 6.9-9.7 MB (Node 20, 22 and 24, with and without CPU hogs). The
 * bound leaves room for a receive buffer that autotuning grows (tcp_rmem's maximum is 32 MB on
 * the machine this was written on), and is the one http-attack-backpressure.test.ts uses; a
 * proxy that ignores backpressure takes all 256 MB (measured, either direction).
 */
const BOUND = 48 * MB;
const CHUNK = 64 * 1024;
/** Timeouts well past the test's pauses: none may end the request while a side waits. */
const LISTENER = ", upstream_timeout: 60s, client_timeout: 90s";

/**
 * The body's pieces: 17 different random 64 KiB blocks, piece i is block i % 17, so a piece
 * lost, repeated or moved changes the SHA-256 (and the count).
 */
const BLOCKS = Array.from({ length: 17 }, () => randomBytes(CHUNK));
const piece = (i: number) => BLOCKS[i % BLOCKS.length] as Buffer;
const PIECES = TOTAL / CHUNK;

function sha256OfBody(): string {
  const h = createHash("sha256");
  for (let i = 0; i < PIECES; i++) h.update(piece(i));
  return h.digest("hex");
}
const EXPECTED_SHA = sha256OfBody();

/** A chunked frame of `data`. */
const frame = (data: Buffer) =>
  Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]);

/**
 * Writes the TOTAL bytes of the body, as pieces or chunked frames, as fast as `sock` takes
 * them (on drain): a writer that is held back stops writing. `done` once it wrote the last byte.
 */
function pump(sock: Socket, chunked: boolean, done: () => void): void {
  let i = 0;
  const go = () => {
    while (i < PIECES && !sock.destroyed) {
      const p = piece(i++);
      const ok = sock.write(chunked ? frame(p) : p);
      if (i === PIECES) {
        if (chunked) sock.write("0\r\n\r\n");
        done();
        return;
      }
      if (!ok) return;
    }
  };
  sock.on("drain", go);
  go();
}

const mb = (n: number) => (n / MB).toFixed(1);

for (const chunked of [false, true]) {
  const kind = chunked ? "chunked" : "Content-Length";

  test(`a 256 MB ${kind} answer to a client that reads nothing: the origin is held back at a bounded figure, then every byte arrives`, {
    timeout: 60_000,
  }, async (t) => {
    let server: Socket | undefined;
    let written = false;
    const origin = await startTunnelOrigin(t, (_head, c) => {
      server = c.sock;
      c.sock.write(
        chunked
          ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          : `HTTP/1.1 200 OK\r\nContent-Length: ${TOTAL}\r\n\r\n`,
      );
      pump(c.sock, chunked, () => {
        written = true;
      });
    });
    const p = await proxyTo(t, origin.port, LISTENER);
    // A client whose answer is read by nobody: node:http stops reading its socket once its
    // small buffer is full, so the proxy's writes back up.
    const req = request({
      host: "127.0.0.1",
      port: p.port("web"),
      path: "/big",
      agent: false,
      headers: { host: "a" },
    });
    req.on("error", () => {});
    t.after(() => req.destroy());
    req.end();
    const [res] = (await within(once(req, "response"), 5_000, "the answer's head")) as [IncomingMessage];
    assert.equal(res.statusCode, 200);
    if (chunked) assert.equal(res.headers["transfer-encoding"], "chunked");
    else assert.equal(res.headers["content-length"], String(TOTAL));
    await until(() => server !== undefined, 5_000, "the origin answering");
    const held = await settles(() => pushed(server as Socket), TOTAL, 1_000, 30_000);
    t.diagnostic(
      `${kind} answer, client reading nothing: the origin pushed ${mb(held)} MB of ${TOTAL / MB} MB into the proxy`,
    );
    assert.ok(!written, "the origin could not write the whole answer");
    assert.ok(held < BOUND, `the origin pushed ${mb(held)} MB into the proxy while the client read nothing`);

    // The client reads: the origin was paused, not cut; every byte comes, in order.
    const hash = createHash("sha256");
    let got = 0;
    res.on("data", (d: Buffer) => {
      got += d.length;
      hash.update(d);
    });
    const t0 = performance.now();
    await within(once(res, "end"), 40_000, `the whole ${TOTAL / MB} MB answer`);
    t.diagnostic(`then read in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(got, TOTAL, "every byte of the answer");
    assert.equal(hash.digest("hex"), EXPECTED_SHA, "the answer's bytes, in order");
    assert.ok(written);
    const line = await p.session(0);
    assert.equal(line.status, 200);
    assert.ok((line.bytes_out as number) >= TOTAL, `the access line's bytes_out: ${line.bytes_out}`);
  });

  test(`a 256 MB ${kind} upload to an origin that reads the head and then nothing: the client is held back at a bounded figure, then every byte arrives`, {
    timeout: 60_000,
  }, async (t) => {
    /** Set once the origin has the request's head: makes it read the body. */
    let startReading: (() => void) | undefined;
    const origin = await startOrigin(t, "paused", (req, res) => {
      // The head is read; the body is not, until the test says so (node:http then stops
      // reading the socket once its small buffer is full).
      const hash = createHash("sha256");
      let n = 0;
      req.pause();
      req.on("end", () => res.end(`${n} ${hash.digest("hex")}`));
      startReading = () => {
        req.on("data", (d: Buffer) => {
          n += d.length;
          hash.update(d);
        });
        req.resume();
      };
    });
    const p = await proxyTo(t, origin.port, LISTENER);
    const c = await RawClient.open(t, p.port("web"));
    c.write(
      chunked
        ? "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        : `POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${TOTAL}\r\n\r\n`,
    );
    let sentAll = false;
    pump(c.sock, chunked, () => {
      sentAll = true;
    });
    await until(() => startReading !== undefined, 5_000, "the request's head at the origin");
    const accepted = await settles(() => pushed(c.sock), TOTAL, 1_000, 30_000);
    t.diagnostic(
      `${kind} upload, origin reading nothing: the proxy accepted ${mb(accepted)} MB of ${TOTAL / MB} MB from the client`,
    );
    assert.ok(!sentAll, "the client could not write the whole body");
    assert.ok(
      accepted < BOUND,
      `the proxy took ${mb(accepted)} MB from the client while the origin read nothing`,
    );
    assert.equal(origin.requests, 1);

    // The origin reads: the client was paused, not cut; every byte comes, in order.
    const t0 = performance.now();
    (startReading as () => void)();
    const r = await c.response("POST", 40_000);
    t.diagnostic(`then read in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.ok(sentAll);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `${TOTAL} ${EXPECTED_SHA}`, "every byte of the body, in order");
    const line = await p.session(0);
    assert.equal(line.status, 200);
  });
}
