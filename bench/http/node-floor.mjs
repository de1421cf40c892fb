// The Node floor of an HTTP proxy, run by the HTTP benchmark as the "node-floor" target:
// node:http in front, one undici Pool behind (keep-alive) driven through `dispatch` with a
// raw handler (no Readable or promise per request), hop-by-hop headers dropped,
// X-Forwarded-For added; no routing, log or metrics. What any Node proxy on these two
// libraries pays per request.
// usage: node node-floor.mjs PORT ORIGIN_PORT
import { createServer } from "node:http";
import { Pool } from "undici";

const [port, originPort] = process.argv.slice(2).map(Number);
const pool = new Pool(`http://127.0.0.1:${originPort}`, { connections: 64 });
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
]);

createServer((req, res) => {
  const headers = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2)
    if (!HOP.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
  headers.push("x-forwarded-for", req.socket.remoteAddress ?? "");
  const body = req.method === "GET" || req.method === "HEAD" ? null : req;
  pool.dispatch(
    { method: req.method, path: req.url, headers, body },
    {
      onConnect() {},
      onHeaders(status, rawHeaders, resume) {
        const out = [];
        for (let i = 0; i < rawHeaders.length; i += 2) {
          const k = rawHeaders[i].toString("latin1");
          if (!HOP.has(k.toLowerCase())) out.push(k, rawHeaders[i + 1].toString("latin1"));
        }
        res.writeHead(status, out);
        res.on("drain", resume);
        return true;
      },
      onData(chunk) {
        return res.write(chunk);
      },
      onComplete() {
        res.end();
      },
      onError() {
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end("bad gateway\n");
      },
    },
  );
}).listen(port, "127.0.0.1", () => process.stdout.write(`${JSON.stringify({ event: "listening", port })}\n`));
