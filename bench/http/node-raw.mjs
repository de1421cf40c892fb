// The raw Node floor of an HTTP proxy on this load, run by the HTTP benchmark as the
// "node-raw" target: each client connection gets its own keep-alive connection to the origin
// and bytes go both ways with write() on 'data'. No parsing at all: valid only because wrk
// sends one request at a time per connection. The least any Node proxy on net sockets pays per
// request: 2 reads and 2 writes, and Node's stream machinery around them.
// usage: node node-raw.mjs PORT ORIGIN_PORT
import net from "node:net";

const [port, originPort] = process.argv.slice(2).map(Number);
net
  .createServer({ noDelay: true }, (client) => {
    const up = net.connect({ port: originPort, host: "127.0.0.1", noDelay: true });
    client.on("data", (d) => up.write(d));
    up.on("data", (d) => client.write(d));
    const end = () => {
      client.destroy();
      up.destroy();
    };
    for (const s of [client, up]) {
      s.on("close", end);
      s.on("error", end);
    }
  })
  .listen(port, "127.0.0.1");
