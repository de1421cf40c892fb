/**
 * The signed server token Trunkline puts in its own Record-Route URI
 * (`<sip:proxy:5060;transport=udp;lr;tl=TOKEN>`), so that an in-dialog request names the
 * FreeSWITCH box that took the INVITE without any dialog table: any proxy of a cluster that
 * shares the key, or this one after a restart, can route BYE and re-INVITE from the Route
 * header alone. The HMAC stops a caller from writing a token that steers its requests to a
 * host of its choosing.
 *
 * What the MAC does not stop: a caller replaying a token it was given (it names a server the
 * proxy chose for that caller, so nothing is gained); pass the Call-ID as `context` to tie a
 * token to its dialog. The proxy must still check that the server named is one it balances
 * to now: a token outlives a reload that removed its server.
 *
 * Layout (base64url, no padding): version byte 0x01, the server name's UTF-8 bytes (1-255),
 * then HMAC-SHA256 truncated to 16 bytes over a label, the version, the context (length
 * prefixed) and the server bytes. There is no expiry: a dialog may last for hours.
 */

import { timingSafeEqual } from "node:crypto";
import { hmacSha256Into } from "../../core/hmac.ts";
import { own } from "./recent.ts";

/** The URI parameter name the proxy is meant to carry the token in. */
export const RR_TOKEN_PARAM = "tl";
export const RR_TOKEN_VERSION = 1;
/** Server names (host:port or a pool member key) longer than this many UTF-8 bytes are refused. */
export const MAX_SERVER_BYTES = 255;
/** 128 bits of HMAC-SHA256: the truncation RFC 2104 §5 allows (at least half, at least 80 bits). */
export const MAC_BYTES = 16;
/** Keys shorter than this are refused: a guessable key would make the MAC worthless. */
export const MIN_KEY_BYTES = 16;
/** The longest token signServer can write (1 + 255 + 16 bytes in base64url): 363 characters. */
export const MAX_TOKEN_LENGTH = Math.ceil(((1 + MAX_SERVER_BYTES + MAC_BYTES) * 4) / 3);

const LABEL = Buffer.from("trunkline-rr\0", "latin1");
/** base64url without padding: every character is `unreserved` in RFC 3261 §25.1, so a paramchar. */
const TOKEN_RE = /^[A-Za-z0-9_-]+$/;
const UTF8 = new TextDecoder("utf-8", { fatal: true });

export interface RrTokenOptions {
  /**
   * Bound into the MAC and not written in the token: the same context must be given to
   * verifyServer. A pool name keeps a token of one pool out of another; a Call-ID ties the
   * token to its dialog (the Call-ID does not change within a dialog).
   */
  readonly context?: string;
}

export type RrTokenError =
  /** Not a token this version writes: bad characters, non-canonical base64url, wrong version or size. */
  | "malformed"
  /** Well formed, but no key given makes its MAC: forged, altered, or signed with a retired key. */
  | "bad_mac"
  /** A server name over 255 bytes, or a token longer than any signServer writes. */
  | "too_long"
  /** Signing: an empty server name. */
  | "empty"
  /** A key under 16 bytes, or no key at all to verify with. */
  | "bad_key";

export type SignResult =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly error: RrTokenError; readonly message: string };

export type VerifyResult =
  | { readonly ok: true; readonly server: string }
  | { readonly ok: false; readonly error: RrTokenError; readonly message: string };

function fail(error: RrTokenError, message: string): { ok: false; error: RrTokenError; message: string } {
  return { ok: false, error, message };
}

/** HMAC-SHA256 (RFC 2104) over the label, version, context and server, truncated. */
function mac(key: Buffer, version: number, context: string, server: Buffer): Buffer {
  const ctxLength = Buffer.byteLength(context, "utf8");
  return hmacSha256Into(key, LABEL.length + 1 + 4 + ctxLength + server.length, (msg, from) => {
    let at = from + LABEL.copy(msg, from);
    msg[at++] = version;
    msg.writeUInt32BE(ctxLength, at);
    at += 4;
    at += msg.write(context, at, "utf8");
    server.copy(msg, at);
  }).subarray(0, MAC_BYTES);
}

/** A token naming `server`, signed with `key` (the current one of the rotation). */
export function signServer(server: string, key: Buffer, opts: RrTokenOptions = {}): SignResult {
  if (key.length < MIN_KEY_BYTES)
    return fail("bad_key", `key of ${key.length} bytes, under ${MIN_KEY_BYTES}`);
  if (server === "") return fail("empty", "empty server name");
  const bytes = Buffer.from(server, "utf8");
  // A lone surrogate would not come back the same from UTF-8: refuse rather than sign another name.
  if (bytes.toString("utf8") !== server) return fail("malformed", "server name is not well-formed Unicode");
  if (bytes.length > MAX_SERVER_BYTES)
    return fail("too_long", `server name of ${bytes.length} bytes, over ${MAX_SERVER_BYTES}`);
  const tag = mac(key, RR_TOKEN_VERSION, opts.context ?? "", bytes);
  return { ok: true, token: Buffer.concat([Buffer.of(RR_TOKEN_VERSION), bytes, tag]).toString("base64url") };
}

/**
 * Tokens verified lately, per key list (its identity: a listener keeps one list per config
 * generation), token and context to the server named: the tokens this proxy signed lately
 * (signFor), so that a call's first in-dialog request (its ACK, right after the answer) costs
 * a Map lookup and not an HMAC, and those verified lately (a dialog set up through another
 * proxy of the cluster). Only good tokens are kept; the cache is emptied when full.
 */
const verified = new WeakMap<readonly Buffer[], Map<string, VerifyResult>>();
const VERIFIED_MAX = 4_096;

/**
 * The server a token names, if any of `keys` signed it (several keys for rotation: sign with
 * the new one, keep verifying with the old one until the dialogs it signed have ended).
 * Every check that does not need a key comes first, so junk costs no HMAC.
 */
export function verifyServer(
  token: string,
  keys: readonly Buffer[],
  opts: RrTokenOptions = {},
): VerifyResult {
  const id = `${opts.context ?? ""}\0${token}`;
  const hit = verified.get(keys)?.get(id);
  if (hit !== undefined) return hit;
  const r = verifyUncached(token, keys, opts);
  // A copy as the key: the token and the context (a Call-ID) are read from a datagram, whose
  // whole text the cache would keep alive with them, for up to VERIFIED_MAX datagrams.
  if (r.ok) remember(keys, own(id), r);
  return r;
}

/**
 * signServer with the first of `keys` (the one that signs), the token then known good to
 * verifyServer(token, keys): the first in-dialog request of a call (its ACK) costs no HMAC.
 */
export function signFor(server: string, keys: readonly Buffer[], opts: RrTokenOptions = {}): SignResult {
  const key = keys[0];
  if (key === undefined) return fail("bad_key", "no key to sign with");
  const r = signServer(server, key, opts);
  if (r.ok) remember(keys, `${opts.context ?? ""}\0${r.token}`, { ok: true, server });
  return r;
}

function remember(keys: readonly Buffer[], id: string, r: VerifyResult): void {
  let cache = verified.get(keys);
  if (cache === undefined) {
    cache = new Map();
    verified.set(keys, cache);
  } else if (cache.size >= VERIFIED_MAX) cache.clear();
  cache.set(id, r);
}

function verifyUncached(token: string, keys: readonly Buffer[], opts: RrTokenOptions): VerifyResult {
  if (token.length > MAX_TOKEN_LENGTH)
    return fail("too_long", `token of ${token.length} chars, over ${MAX_TOKEN_LENGTH}`);
  if (!TOKEN_RE.test(token)) return fail("malformed", "token is not base64url");
  const raw = Buffer.from(token, "base64url");
  // Buffer's decoder ignores stray trailing bits: a second spelling of the same bytes is refused.
  if (raw.toString("base64url") !== token) return fail("malformed", "token is not canonical base64url");
  if (raw.length < 1 + 1 + MAC_BYTES) return fail("malformed", `token of ${raw.length} bytes is too short`);
  if (raw[0] !== RR_TOKEN_VERSION)
    return fail("malformed", `token version ${raw[0]} is not ${RR_TOKEN_VERSION}`);
  const server = raw.subarray(1, raw.length - MAC_BYTES);
  const tag = raw.subarray(raw.length - MAC_BYTES);
  const usable = keys.filter((k) => k.length >= MIN_KEY_BYTES);
  if (usable.length === 0) return fail("bad_key", `no key of at least ${MIN_KEY_BYTES} bytes to verify with`);
  const context = opts.context ?? "";
  let good = false;
  // Every key is tried, matched or not, so the time taken does not tell which key signed it.
  for (const key of usable)
    if (timingSafeEqual(mac(key, RR_TOKEN_VERSION, context, server), tag)) good = true;
  if (!good) return fail("bad_mac", "token not signed by any given key");
  try {
    return { ok: true, server: UTF8.decode(server) };
  } catch {
    // Only reachable if a key holder signed bytes signServer would never write.
    return fail("malformed", "server name is not UTF-8");
  }
}
