import { isIP } from "node:net";
import { parseHostPort } from "../../core/address.ts";
import type { SnapshotContext } from "../context.ts";
import type { RawConfig } from "../schema.ts";
import type { AdminSettings } from "../types.ts";

export const ADMIN_PORT = 8404;

/** Whether a listen host reaches only this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/**
 * The admin API. Off unless configured; on a non-loopback address it needs a token, or
 * anyone who can reach the port could drain every server.
 */
export function buildAdmin(raw: RawConfig["admin"], ctx: SnapshotContext): AdminSettings | undefined {
  if (raw === undefined) return undefined;
  const hp = parseHostPort(raw.listen, ADMIN_PORT);
  if (typeof hp === "string") return ctx.fail(["admin", "listen"], hp);
  let token: string | undefined;
  if (raw.token_file !== undefined) {
    const bytes = ctx.readFile(["admin", "token_file"], raw.token_file);
    if (bytes) {
      token = bytes.toString("utf8").split(/\r?\n/)[0]?.trim() ?? "";
      if (token.length < 16) {
        ctx.fail(["admin", "token_file"], "the token must be at least 16 characters (its first line)");
        token = undefined;
      }
    }
  }
  if (raw.token_file === undefined && !isLoopback(hp.host))
    ctx.fail(["admin", "listen"], `${raw.listen} is not a loopback address: give a token_file`);
  return {
    listen: hp,
    tokenFile: raw.token_file === undefined ? undefined : ctx.resolve(raw.token_file),
    token,
  };
}
