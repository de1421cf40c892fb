/**
 * `trunkline ctl`: the admin API (README "Admin API") from a shell. Human tables by default,
 * the API's own JSON with --json. Exit codes: 0 done, 1 the API answered an error (or a
 * reload was rejected), 2 bad usage, 3 the admin API cannot be reached.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { errorMessage } from "../core/errors.ts";
import type { PoolView, ServerView, SessionView, StatusView } from "../observe/admin/types.ts";
import { one, type ParsedArgs, parseArgs, UsageError } from "./args.ts";
import { formatPools, formatServer, formatSessions, formatStatus } from "./ctl-format.ts";
import { asksJson, CtlErrorCodes, CtlOutput } from "./ctl-output.ts";

export const usage = `trunkline ctl [--admin URL] [--token-file F] [--json] COMMAND
  status                        version, config, last reload, listeners
  pools [NAME]                  every server of every pool (or of NAME): state, weight, sessions
  sessions [--limit N]          sessions in flight, newest first
  drain POOL ADDRESS            no new sessions for the server; open ones go on
  maint POOL ADDRESS            the same, as maintenance
  ready POOL ADDRESS            lifts the operator's drain or maint
  weight POOL ADDRESS N|none    the operator's weight (none lifts it)
  reload                        reload the config, as SIGHUP does
  --admin defaults to $TRUNKLINE_ADMIN or http://127.0.0.1:8404; --token-file to
  $TRUNKLINE_ADMIN_TOKEN_FILE (its first line is the bearer token, sent on changes).
  exit: 0 ok, 1 the API answered an error or a reload was rejected, 2 bad usage, 3 unreachable`;

const DEFAULT_ADMIN = "http://127.0.0.1:8404";
/** A hung admin API must not hang a script that calls us. */
const TIMEOUT_MS = 5_000;
/** The largest answer read (a thousand sessions are well under 1 MiB). */
const MAX_ANSWER = 16 * 1024 * 1024;

const EXIT_API_ERROR = 1;
const EXIT_USAGE = 2;
const EXIT_UNREACHABLE = 3;

/** One API call and how to show its answer to a human. */
interface Plan {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly body?: unknown;
  readonly render: (json: unknown) => string;
}

class Unreachable extends Error {}

const seg = encodeURIComponent;

function arity(pos: readonly string[], min: number, max: number, shape: string): void {
  if (pos.length - 1 < min || pos.length - 1 > max)
    throw new UsageError(`wrong arguments: the command is "${shape}"`);
}

function plan(args: ParsedArgs): Plan {
  const pos = args.positionals;
  const cmd = pos[0];
  const limit = one(args, "limit");
  if (limit !== undefined && cmd !== "sessions") throw new UsageError("--limit goes with sessions");
  switch (cmd) {
    case "status":
      arity(pos, 0, 0, "status");
      return { method: "GET", path: "status", render: (j) => formatStatus(j as StatusView) };
    case "pools": {
      arity(pos, 0, 1, "pools [NAME]");
      const name = pos[1];
      if (name === undefined)
        return {
          method: "GET",
          path: "pools",
          render: (j) => formatPools((j as { pools: PoolView[] }).pools),
        };
      return { method: "GET", path: `pools/${seg(name)}`, render: (j) => formatPools([j as PoolView]) };
    }
    case "sessions": {
      arity(pos, 0, 0, "sessions [--limit N]");
      if (limit !== undefined && !/^\d+$/.test(limit))
        throw new UsageError(`--limit wants a number, got "${limit}"`);
      return {
        method: "GET",
        path: limit === undefined ? "sessions" : `sessions?limit=${limit}`,
        render: (j) => formatSessions((j as { sessions: SessionView[] }).sessions),
      };
    }
    case "drain":
    case "maint":
    case "ready":
    case "weight": {
      const weight = cmd === "weight";
      arity(pos, weight ? 3 : 2, weight ? 3 : 2, `${cmd} POOL ADDRESS${weight ? " N|none" : ""}`);
      const [, pool, address, n] = pos as [string, string, string, string | undefined];
      let body: unknown;
      if (weight) {
        // The range (0-256) is the API's to say; here only whether it is a number at all.
        if (n !== "none" && !/^\d+$/.test(n ?? ""))
          throw new UsageError(`weight wants N or none, got "${n}"`);
        body = { weight: n === "none" ? null : Number(n) };
      }
      return {
        method: "POST",
        path: `pools/${seg(pool)}/servers/${seg(address)}/${cmd}`,
        ...(body === undefined ? {} : { body }),
        render: (j) => formatServer(pool, j as ServerView),
      };
    }
    case "reload":
      arity(pos, 0, 0, "reload");
      return {
        method: "POST",
        path: "reload",
        render: (j) => {
          const r = j as { outcome: string; generation: number };
          return `reload ${r.outcome}: generation ${r.generation}\n`;
        },
      };
    case undefined:
      throw new UsageError("give a command");
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

function adminBase(args: ParsedArgs): URL {
  const text = one(args, "admin") ?? process.env.TRUNKLINE_ADMIN ?? DEFAULT_ADMIN;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--admin wants a URL such as ${DEFAULT_ADMIN}, got "${text}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new UsageError(`--admin wants an http:// or https:// URL, got "${text}"`);
  // A base with a path (behind a front proxy) keeps it: api/v1/... is resolved under it.
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

/** The bearer token, read only for a change so that reads work without the file. */
function token(args: ParsedArgs): string | undefined {
  const file = one(args, "token-file") ?? process.env.TRUNKLINE_ADMIN_TOKEN_FILE;
  if (file === undefined || file === "") return undefined;
  let first: string;
  try {
    first = (readFileSync(file, "utf8").split(/\r?\n/)[0] ?? "").trim();
  } catch (err) {
    throw new UsageError(`cannot read the token file: ${errorMessage(err)}`);
  }
  if (first === "") throw new UsageError(`the token file ${file} has no token on its first line`);
  // What node:http refuses in a header value (it would throw, not send): a tab, visible ASCII, Latin-1.
  if (/[^\t\x20-\x7e\x80-\xff]/.test(first))
    throw new UsageError(`the token in ${file} holds a character an HTTP header cannot carry`);
  return first;
}

/**
 * node:http rather than fetch: fetch refuses the "bad ports" of the Fetch standard (5060 and
 * 5061 among them, ports a telephony host may well use) and keeps sockets alive after the answer.
 */
function call(url: URL, p: Plan, bearer: string | undefined): Promise<{ status: number; text: string }> {
  const body = p.body === undefined ? "" : JSON.stringify(p.body);
  const headers: Record<string, string> = {
    accept: "application/json",
    "content-length": String(Buffer.byteLength(body)),
  };
  if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
  if (p.body !== undefined) headers["content-type"] = "application/json";
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      // TLS errors end in a newline of their own.
      reject(err instanceof Unreachable ? err : new Unreachable(errorMessage(err).trim()));
    };
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, { method: p.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        // No admin answer is this large; whatever is cannot be the API, and is cut short.
        if (size > MAX_ANSWER) res.destroy();
        else chunks.push(c);
      });
      res.on("error", fail);
      res.on("close", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") });
      });
    });
    // One bound on the whole exchange (connect, answer, body): a hung admin API must not hang a script.
    const timer = setTimeout(
      () => req.destroy(new Unreachable(`no answer within ${TIMEOUT_MS / 1_000} s`)),
      TIMEOUT_MS,
    );
    req.on("error", fail);
    req.end(body);
  });
}

export async function main(argv: string[]): Promise<number> {
  const out = new CtlOutput(asksJson(argv));
  try {
    return await ctl(argv, out);
  } catch (err) {
    // A fault of ctl's own: with --json it is still the one document on stdout.
    if (!out.json) throw err;
    out.fail(CtlErrorCodes.FAILED, errorMessage(err));
    return EXIT_API_ERROR;
  }
}

async function ctl(argv: string[], out: CtlOutput): Promise<number> {
  let p: Plan;
  let url: URL;
  let bearer: string | undefined;
  try {
    const args = parseArgs(argv, {
      options: ["admin", "token-file", "limit"],
      flags: ["json", "help"],
      aliases: { "-h": "help" },
    });
    if (args.flags.has("help")) {
      out.text(`usage: ${usage}\n`);
      return 0;
    }
    p = plan(args);
    const base = adminBase(args);
    url = new URL(`api/v1/${p.path}`, base);
    bearer = p.method === "POST" ? token(args) : undefined;
  } catch (err) {
    out.fail(CtlErrorCodes.USAGE, errorMessage(err), `usage: ${usage}\n`);
    return EXIT_USAGE;
  }
  let answer: { status: number; text: string };
  try {
    answer = await call(url, p, bearer);
  } catch (err) {
    if (!(err instanceof Unreachable)) throw err;
    out.fail(CtlErrorCodes.UNREACHABLE, `cannot reach the admin API at ${url.origin}: ${err.message}`);
    return EXIT_UNREACHABLE;
  }
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    out.fail(
      CtlErrorCodes.BAD_ANSWER,
      `${url.origin} answered HTTP ${answer.status} without JSON: is it the admin API?`,
    );
    return EXIT_API_ERROR;
  }
  const ok = answer.status >= 200 && answer.status <= 299;
  const e = ok
    ? undefined
    : (json as { error?: { code?: unknown; message?: unknown; errors?: unknown } } | null)?.error;
  if (!ok && (typeof e?.code !== "string" || typeof e.message !== "string")) {
    out.fail(
      CtlErrorCodes.BAD_ANSWER,
      `${url.origin} answered HTTP ${answer.status} with a document that is not the API's error: is it the admin API?`,
    );
    return EXIT_API_ERROR;
  }
  // Scripts get the API's document as it came, error or not; the exit code says which.
  if (out.json) out.document(answer.text);
  if (e) {
    out.apiError(e.code as string, e.message as string, e.errors);
    return EXIT_API_ERROR;
  }
  if (out.json) return 0;
  let text: string;
  try {
    text = p.render(json);
  } catch {
    out.fail(CtlErrorCodes.BAD_ANSWER, `${url.origin} answered an unexpected document: is it the admin API?`);
    return EXIT_API_ERROR;
  }
  out.text(text);
  return 0;
}
