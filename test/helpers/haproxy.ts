import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const HAPROXY = "/usr/sbin/haproxy";

/** Debian's HAProxy in the foreground with an admin stats socket in a temp dir. */
export async function startHaproxy(
  body: string,
): Promise<{ sock: string; cmd(c: string): Promise<string>; logs(): string; close(): Promise<void> }> {
  if (!existsSync(HAPROXY)) throw new Error(`${HAPROXY} is missing: .ci/run installs Debian's haproxy`);
  const dir = mkdtempSync(join(tmpdir(), "tl-haproxy-"));
  const sock = join(dir, "admin.sock");
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(
    cfg,
    `global\n  stats socket ${sock} level admin\n  maxconn 1000\n\ndefaults\n  mode tcp\n  timeout connect 1s\n  timeout client 10s\n  timeout server 10s\n\n${body}\n`,
  );
  const child: ChildProcess = spawn(HAPROXY, ["-f", cfg, "-db"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  const cmd = (c: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(sock);
      let buf = "";
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`haproxy did not answer "${c}"`));
      }, 2000);
      s.on("connect", () => s.write(`${c}\n`));
      s.on("data", (d) => {
        buf += d;
      });
      s.on("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
      s.on("close", () => {
        clearTimeout(t);
        resolve(buf);
      });
    });
  const end = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${out}`);
    try {
      await cmd("show info");
      break;
    } catch {
      if (Date.now() > end) throw new Error(`haproxy stats socket never came up: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    sock,
    cmd,
    logs: () => out,
    async close() {
      child.kill("SIGKILL");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `show servers state BACKEND` as objects keyed by its header line's column names. */
export async function serversState(
  h: { cmd(c: string): Promise<string> },
  backend: string,
): Promise<Record<string, Record<string, string>>> {
  const text = await h.cmd(`show servers state ${backend}`);
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const header = lines.find((l) => l.startsWith("# be_id"));
  if (!header) throw new Error(`unexpected answer: ${text}`);
  const cols = header.slice(2).split(" ");
  const out: Record<string, Record<string, string>> = {};
  for (const l of lines) {
    if (l.startsWith("#") || /^\d+$/.test(l.trim())) continue;
    const vals = l.split(" ");
    const row = Object.fromEntries(cols.map((c, i) => [c, vals[i] ?? ""]));
    out[row.srv_name as string] = row;
  }
  return out;
}

/** `show stat` CSV rows keyed by `pxname/svname`. */
export async function stat(h: {
  cmd(c: string): Promise<string>;
}): Promise<Record<string, Record<string, string>>> {
  const text = await h.cmd("show stat");
  const lines = text.split("\n").filter((l) => l !== "");
  const cols = (lines[0] ?? "").replace(/^# /, "").split(",");
  const out: Record<string, Record<string, string>> = {};
  for (const l of lines.slice(1)) {
    const v = l.split(",");
    const row = Object.fromEntries(cols.map((c, i) => [c, v[i] ?? ""]));
    out[`${row.pxname}/${row.svname}`] = row;
  }
  return out;
}
