import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3, type IOptions } from "etcd3";
import { freePort } from "./ports.ts";

export const ETCD_BIN = "/usr/bin/etcd";

/** PEM text of a test PKI: a CA, etcd's server pair (IP SAN 127.0.0.1), a client pair, a foreign CA. */
export interface TestCerts {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that signed nothing here: trusting it alone, etcd's certificate does not verify. */
  readonly otherCa: string;
}

function run(cmd: string, args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout: 20_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`)) : resolve(),
    );
  });
}

/** Makes the certificates with openssl in a temporary folder (P-256 keys: quick), then removes it. */
export async function makeCerts(): Promise<TestCerts> {
  const dir = mkdtempSync(join(tmpdir(), "trunkline-pki-"));
  try {
    const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for (const ca of ["ca", "other"])
      await run(
        "openssl",
        [
          "req",
          "-x509",
          ...key,
          "-keyout",
          `${ca}.key`,
          "-out",
          `${ca}.pem`,
          "-days",
          "2",
          "-subj",
          `/CN=test-${ca}`,
        ],
        dir,
      );
    const sign = async (name: string, cn: string, ext: string) => {
      writeFileSync(join(dir, `${name}.ext`), ext);
      await run(
        "openssl",
        ["req", ...key, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`],
        dir,
      );
      await run(
        "openssl",
        [
          "x509",
          "-req",
          "-in",
          `${name}.csr`,
          "-CA",
          "ca.pem",
          "-CAkey",
          "ca.key",
          "-CAcreateserial",
          "-out",
          `${name}.pem`,
          "-days",
          "2",
          "-extfile",
          `${name}.ext`,
        ],
        dir,
      );
    };
    await sign(
      "server",
      "127.0.0.1",
      "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    );
    await sign("client", "trunkline", "extendedKeyUsage=clientAuth\n");
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    return {
      ca: read("ca.pem"),
      serverCert: read("server.pem"),
      serverKey: read("server.key"),
      clientCert: read("client.pem"),
      clientKey: read("client.key"),
      otherCa: read("other.pem"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface EtcdOptions {
  /** https client URL, client certificates required (--client-cert-auth). */
  readonly tls?: TestCerts;
  /** Auth enabled, user root with this password (the test's own client logs in). */
  readonly rootPassword?: string;
}

export interface TestEtcd {
  /** http(s)://127.0.0.1:PORT, the client URL. */
  readonly endpoint: string;
  readonly dataDir: string;
  /** A client for the test's own reads and writes. */
  readonly client: Etcd3;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); the data dir stays. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data dir; resolves when it answers. */
  start(): Promise<void>;
  /** The etcd process now (undefined when stopped): a test may SIGSTOP it to make it hang. */
  readonly pid: number | undefined;
  put(key: string, value: string): Promise<number>;
  del(key: string): Promise<void>;
  /** Compacts the history up to the current revision; returns it. */
  compact(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A real etcd (Debian's etcd-server) on free loopback ports with a temporary data dir; it
 * can be stopped and started again on the same ports and data, as a crashed member would.
 */
export async function startEtcd(opts: EtcdOptions = {}): Promise<TestEtcd> {
  const dataDir = mkdtempSync(join(tmpdir(), "trunkline-etcd-"));
  const tls = opts.tls;
  let endpoint = "";
  let peer = "";
  /** New ports for both URLs (before the first start, or after it met a port taken). */
  const pickPorts = async (): Promise<void> => {
    endpoint = `${tls ? "https" : "http"}://127.0.0.1:${await freePort()}`;
    peer = `http://127.0.0.1:${await freePort()}`;
  };
  await pickPorts();
  let child: ChildProcess | undefined;
  let stderr = "";
  const tlsArgs: string[] = [];
  if (tls) {
    const f = (name: string, text: string) => {
      const full = `${dataDir}-${name}`;
      writeFileSync(full, text);
      return full;
    };
    tlsArgs.push(
      "--cert-file",
      f("server.pem", tls.serverCert),
      "--key-file",
      f("server.key", tls.serverKey),
      "--trusted-ca-file",
      f("ca.pem", tls.ca),
      "--client-cert-auth",
    );
  }

  /** GET /health, over https with the client pair when etcd asks for one. */
  const health = (): Promise<number> =>
    tls
      ? new Promise((resolve, reject) => {
          const req = request(`${endpoint}/health`, {
            ca: tls.ca,
            cert: tls.clientCert,
            key: tls.clientKey,
            timeout: 1_000,
          });
          req.on("response", (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on("timeout", () => req.destroy(new Error("timeout")));
          req.on("error", reject);
          req.end();
        })
      : fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.status);

  const waitReady = async (): Promise<void> => {
    const end = Date.now() + 20_000;
    for (;;) {
      if (child?.exitCode !== null && child?.exitCode !== undefined)
        throw new Error(`etcd exited with ${child.exitCode}:\n${stderr.slice(-2000)}`);
      try {
        if ((await health()) === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > end) throw new Error(`etcd did not answer within 20 s:\n${stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const start = async (): Promise<void> => {
    // Already running: a second etcd on the same ports would fail to bind while the first,
    // no longer tracked, kept its stderr pipe (and so the test process) alive for good.
    if (child !== undefined && child.exitCode === null && child.signalCode === null) return waitReady();
    stderr = "";
    child = spawn(
      ETCD_BIN,
      [
        "--name",
        "t",
        "--data-dir",
        dataDir,
        "--listen-client-urls",
        endpoint,
        "--advertise-client-urls",
        endpoint,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `t=${peer}`,
        "--log-level",
        "error",
        ...tlsArgs,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8_000);
    });
    await waitReady();
  };

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill("SIGTERM");
    const t = setTimeout(() => c.kill("SIGKILL"), 5_000);
    await gone;
    clearTimeout(t);
  };

  const removeTlsFiles = () => {
    for (const f of ["server.pem", "server.key", "ca.pem"]) rmSync(`${dataDir}-${f}`, { force: true });
  };
  // A port can still be taken between the pick and etcd's bind (by another explicit pick):
  // the first start then tries new ports, at most 3 times.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
      if (attempt >= 3 || !/address already in use/.test(String(err))) {
        removeTlsFiles();
        throw err;
      }
      mkdirSync(dataDir);
      await pickPorts();
    }
  }
  const clientOpts: IOptions = { hosts: endpoint, dialTimeout: 2_000 };
  if (tls)
    clientOpts.credentials = {
      rootCertificate: Buffer.from(tls.ca),
      certChain: Buffer.from(tls.clientCert),
      privateKey: Buffer.from(tls.clientKey),
    };
  let client = new Etcd3(clientOpts);
  if (opts.rootPassword !== undefined) {
    // etcd 3.4 turns auth on only with a root user holding the root role.
    const ctl = (...args: string[]) => run("etcdctl", ["--endpoints", endpoint, ...args], dataDir);
    await ctl("user", "add", `root:${opts.rootPassword}`);
    await ctl("role", "add", "root").catch(() => {});
    await ctl("user", "grant-role", "root", "root");
    await ctl("auth", "enable");
    client.close();
    client = new Etcd3({ ...clientOpts, auth: { username: "root", password: opts.rootPassword } });
  }
  return {
    endpoint,
    dataDir,
    get client() {
      return client;
    },
    get pid() {
      return child?.pid;
    },
    stop,
    start,
    async put(key, value) {
      const r = await client.put(key).value(value).exec();
      return Number(r.header.revision);
    },
    async del(key) {
      await client.delete().key(key).exec();
    },
    async compact() {
      const r = await client.get("\0").exec();
      const rev = Number(r.header.revision);
      await client.kv.compact({ revision: String(rev), physical: true });
      return rev;
    },
    async close() {
      client.close();
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
      removeTlsFiles();
    },
  };
}
