// A real `trunkline run` process whose config is shared in etcd: the etcd tests' cluster member.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Running, startCli } from "./cli.ts";
import { freePort } from "./ports.ts";

export interface EtcdMember {
  readonly run: Running;
  /** The port of its one listener. */
  readonly port: number;
  /** Its admin API's base URL. */
  readonly admin: string;
}

export interface EtcdMemberOptions {
  /** An http listener `web` or a fastagi listener `agi`, on a free port. */
  readonly protocol: "http" | "fastagi";
  readonly endpoint: string;
  readonly prefix: string;
  /** Its file's pool, as one YAML line under `pools:` (`main: { servers: [...] }`). */
  readonly pool: string;
  /** How long it may take to log "trunkline started". */
  readonly startMs: number;
  /** Takes its stop (SIGTERM, SIGKILL after 10 s, its folder removed) before it is waited for. */
  readonly cleanup: (stop: () => Promise<void>) => void;
}

export async function startEtcdMember(o: EtcdMemberOptions): Promise<EtcdMember> {
  const dir = mkdtempSync(join(tmpdir(), "trunkline-member-"));
  const port = await freePort();
  const adminPort = await freePort();
  const file = join(dir, "trunkline.yaml");
  const listener = o.protocol === "http" ? "web" : "agi";
  writeFileSync(
    file,
    `
listeners: [ { name: ${listener}, protocol: ${o.protocol}, listen: 127.0.0.1:${port} } ]
admin: { listen: 127.0.0.1:${adminPort} }
pools:
  ${o.pool}
config:
  etcd: { endpoints: [ ${o.endpoint} ], prefix: ${o.prefix}, cache: cache.json }
`,
  );
  const run = startCli(["run", "-c", file]);
  o.cleanup(async () => {
    run.child.kill("SIGTERM");
    await run.exited(10_000).catch(() => run.kill());
    rmSync(dir, { recursive: true, force: true });
  });
  await run.waitFor((l) => l.msg === "trunkline started", o.startMs);
  return { run, port, admin: `http://127.0.0.1:${adminPort}` };
}
