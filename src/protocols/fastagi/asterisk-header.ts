/**
 * Builds a FastAGI session header exactly as Asterisk 23 writes it (res_agi.c,
 * launch_netscript() then setup_env()), for `trunkline call`, the demo and the tests.
 * Pure: no I/O.
 */
import { ErrorCodes, TrunklineError } from "../../core/errors.ts";
import { encodeHeaderText } from "./header-text.ts";

/**
 * The bytes a real Asterisk 23.4.1 sent for `agi://127.0.0.1:4580/hello?x=1&y=%20z` with the
 * dialplan arguments `arg1` and `arg` (fixtures/agi/asterisk-23.4.1-originate-query.raw),
 * embedded so nothing reads the fixture at runtime.
 */
export const CAPTURED_HEADER: Buffer = Buffer.from(
  "agi_network: yes\n" +
    "agi_network_script: hello?x=1&y=%20z\n" +
    "agi_request: agi://127.0.0.1:4580/hello?x=1&y=%20z\n" +
    "agi_channel: Local/ans@load-0001ce1c;1\n" +
    "agi_language: en\n" +
    "agi_type: Local\n" +
    "agi_uniqueid: 1795418242.236600\n" +
    "agi_version: 23.4.1\n" +
    "agi_callerid: unknown\n" +
    "agi_calleridname: unknown\n" +
    "agi_callingpres: 67\n" +
    "agi_callingani2: 0\n" +
    "agi_callington: 0\n" +
    "agi_callingtns: 0\n" +
    "agi_dnid: unknown\n" +
    "agi_rdnis: unknown\n" +
    "agi_context: load\n" +
    "agi_extension: ans\n" +
    "agi_priority: 1\n" +
    "agi_enhanced: 0.0\n" +
    "agi_accountcode: \n" +
    "agi_threadid: 140168674756288\n" +
    "agi_arg_1: arg1\n" +
    "agi_arg_2: arg\n" +
    "\n",
  "latin1",
);

/** setup_env()'s variables after agi_request, in its order, with the captured values. */
const DEFAULTS: readonly (readonly [string, string])[] = [
  ["agi_channel", "Local/ans@load-0001ce1c;1"],
  ["agi_language", "en"],
  ["agi_type", "Local"],
  ["agi_uniqueid", "1795418242.236600"],
  ["agi_version", "23.4.1"],
  ["agi_callerid", "unknown"],
  ["agi_calleridname", "unknown"],
  ["agi_callingpres", "67"],
  ["agi_callingani2", "0"],
  ["agi_callington", "0"],
  ["agi_callingtns", "0"],
  ["agi_dnid", "unknown"],
  ["agi_rdnis", "unknown"],
  ["agi_context", "load"],
  ["agi_extension", "ans"],
  ["agi_priority", "1"],
  ["agi_enhanced", "0.0"],
  ["agi_accountcode", ""],
  ["agi_threadid", "140168674756288"],
];

const NAME_RE = /^[A-Za-z0-9_]{1,64}$/;

/**
 * agi_network_script as launch_netscript() derives it: everything after the first `/` that
 * follows `scheme://host[:port]`, query included and not decoded. Undefined when that is
 * empty, because Asterisk then writes no agi_network_script line at all.
 */
export function networkScriptOf(url: string): string | undefined {
  const scheme = url.indexOf("://");
  const afterScheme = scheme < 0 ? 0 : scheme + 3;
  const slash = url.indexOf("/", afterScheme);
  if (slash < 0) return undefined;
  const script = url.slice(slash + 1);
  return script === "" ? undefined : script;
}

function checkLine(name: string, value: string): void {
  if (!NAME_RE.test(name)) {
    throw new TrunklineError(ErrorCodes.HEADER_INVALID, `invalid AGI variable name "${name}"`);
  }
  // A line break inside a value would end the header line and forge the next one.
  if (/[\r\n]/.test(value)) {
    throw new TrunklineError(ErrorCodes.HEADER_INVALID, `value of ${name} contains a line break`);
  }
}

/**
 * The header Asterisk writes for `AGI(url,args...)`: `agi_network: yes`, then
 * `agi_network_script` only when the URL has a path, `agi_request`, setup_env()'s variables in
 * its order (captured defaults), then `agi_arg_1`…`agi_arg_N`, closed by an empty line.
 * `vars` replace a variable in place; unknown names are appended after the arguments. Values
 * are written as UTF-8 and an empty value keeps the space after the colon, as Asterisk does.
 */
export function buildAsteriskHeader(opts: {
  url: string;
  vars?: Record<string, string>;
  args?: string[];
}): Buffer {
  const entries: [string, string][] = [["agi_network", "yes"]];
  const script = networkScriptOf(opts.url);
  if (script !== undefined) entries.push(["agi_network_script", script]);
  entries.push(["agi_request", opts.url]);
  for (const [name, value] of DEFAULTS) entries.push([name, value]);
  (opts.args ?? []).forEach((arg, i) => {
    entries.push([`agi_arg_${i + 1}`, arg]);
  });
  for (const [name, value] of Object.entries(opts.vars ?? {})) {
    const existing = entries.find((e) => e[0] === name);
    if (existing) existing[1] = value;
    else if (name === "agi_network_script") entries.splice(1, 0, [name, value]);
    else entries.push([name, value]);
  }
  const parts: Buffer[] = [];
  for (const [name, value] of entries) {
    checkLine(name, value);
    parts.push(Buffer.from(`${name}: ${value}\n`, "utf8"));
  }
  parts.push(Buffer.from("\n"));
  return Buffer.concat(parts);
}

/**
 * Replaces agi_request and agi_network_script in an existing header (as a different
 * `AGI(url)` would have produced them), keeping every other byte as it was.
 */
export function headerForUrl(header: Buffer, url: string): Buffer {
  const script = networkScriptOf(url);
  const out: Buffer[] = [];
  let start = 0;
  while (start < header.length) {
    const nl = header.indexOf(0x0a, start);
    const end = nl < 0 ? header.length : nl + 1;
    const line = header.subarray(start, end);
    const text = line.toString("latin1");
    if (text.startsWith("agi_network_script:")) {
      // dropped here, re-added right before agi_request below
    } else if (text.startsWith("agi_request:")) {
      if (script !== undefined) out.push(encodeHeaderText(`agi_network_script: ${script}\n`));
      out.push(encodeHeaderText(`agi_request: ${url}${text.endsWith("\r\n") ? "\r\n" : "\n"}`));
    } else {
      out.push(line);
    }
    start = end;
  }
  return Buffer.concat(out);
}
