import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type ErrorCode, ErrorCodes } from "../../core/errors.ts";

/** Request bodies larger than this are refused (413) without being read further. */
export const MAX_BODY = 64 * 1024;

export class HttpError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  /** For a 405: the methods the resource takes (RFC 9110 §15.5.6). */
  readonly allow: string | undefined;
  constructor(status: number, code: ErrorCode, message: string, allow?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.allow = allow;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    // The answers echo names a client sent (`no pool named "<script>"`): never sniffed as HTML.
    "x-content-type-options": "nosniff",
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  // A body left unread (too large) is not waited for: the connection ends after the answer.
  if (err.status === 413) res.setHeader("connection", "close");
  if (err.allow !== undefined) res.setHeader("allow", err.allow);
  sendJson(res, err.status, { error: { code: err.code, message: err.message } });
}

/**
 * Reads a JSON body of at most MAX_BODY bytes; an empty body is `{}`. A body over the bound
 * is refused at once (413, and the connection closes after the answer: Node discards the
 * rest); a non-empty body must say Content-Type: application/json.
 */
export function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > MAX_BODY) {
      reject(new HttpError(413, ErrorCodes.ADMIN_TOO_LARGE, `body over ${MAX_BODY} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > MAX_BODY) {
        over = true;
        chunks.length = 0;
        reject(new HttpError(413, ErrorCodes.ADMIN_TOO_LARGE, `body over ${MAX_BODY} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      if (over) return;
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (text === "") return resolve({});
      if (!isJsonType(req.headers["content-type"]))
        return reject(
          new HttpError(
            415,
            ErrorCodes.ADMIN_MEDIA_TYPE,
            "send the body with Content-Type: application/json",
          ),
        );
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new HttpError(400, ErrorCodes.ADMIN_BAD_REQUEST, "the body is not JSON"));
      }
    });
  });
}

function isJsonType(value: string | undefined): boolean {
  const t = (value ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  return t === "application/json" || (t.startsWith("application/") && t.endsWith("+json"));
}

/** Bearer token check in constant time (the lengths are compared first, which leaks only the length). */
export function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const h = req.headers.authorization ?? "";
  const m = /^Bearer (.+)$/i.exec(h);
  if (!m) return false;
  const a = Buffer.from(m[1] as string);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
