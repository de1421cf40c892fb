import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { compileTemplate, expandTemplate } from "../../src/protocols/fastagi/request.ts";

const NUM_RUNS = 300;

function vars(o: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(o));
}

/** The path match as the router makes it: match.path run on the raw request path. */
function pathMatch(re: RegExp, path: string): RegExpExecArray {
  const m = re.exec(path);
  assert.ok(m, `${re} matches ${path}`);
  return m;
}

/** Splits an expanded URL template where the router does: at its first `?`. */
function split(out: string): { path: string; query: string | undefined } {
  const q = out.indexOf("?");
  return q < 0 ? { path: out, query: undefined } : { path: out.slice(0, q), query: out.slice(q + 1) };
}

test("a caller name cannot add a query parameter, and + survives as +", () => {
  const t = compileTemplate(`/apps/$<app>?name=\${agi_calleridname}&cid=\${agi_callerid}`, "url");
  const out = t(
    pathMatch(/^\/ivr\/(?<app>[a-z]+)$/, "/ivr/menu"),
    vars({ agi_calleridname: "Bob&admin=1", agi_callerid: "+4930123" }),
  );
  assert.equal(out, "/apps/menu?name=Bob%26admin%3D1&cid=%2B4930123");
  assert.deepEqual(
    [...new URLSearchParams(split(out).query)],
    [
      ["name", "Bob&admin=1"],
      ["cid", "+4930123"],
    ],
  );
});

test("header values are percent-encoded as UTF-8 in the path part and in the query part", () => {
  const t = compileTemplate(`/u/\${agi_calleridname}/x?n=\${agi_calleridname}`, "url");
  assert.equal(t(null, vars({ agi_calleridname: "Zoë" })), "/u/Zo%C3%AB/x?n=Zo%C3%AB");
  // A `/` or `?` in a header value is data: no extra path segment, no early query.
  assert.equal(t(null, vars({ agi_calleridname: "a/b?c" })), "/u/a%2Fb%3Fc/x?n=a%2Fb%3Fc");
});

test("a % in a header value is data, never the start of an escape", () => {
  const t = compileTemplate(`/p?v=\${agi_x}`, "url");
  assert.equal(t(null, vars({ agi_x: "100%" })), "/p?v=100%25");
  assert.equal(t(null, vars({ agi_x: "%41" })), "/p?v=%2541");
  assert.equal(new URLSearchParams(split(t(null, vars({ agi_x: "%41" }))).query).get("v"), "%41");
});

test("a path capture is URL text: %20 is not encoded again, in the path part or the query part", () => {
  const t = compileTemplate("/apps/$<app>?app=$<app>&n=$1", "url");
  const m = pathMatch(/^\/ivr\/(?<app>.+)$/, "/ivr/main%20menu");
  assert.equal(t(m, vars({})), "/apps/main%20menu?app=main%20menu&n=main%20menu");
  assert.equal(new URLSearchParams(split(t(m, vars({}))).query).get("app"), "main menu");
});

test("in the query part a path capture loses only what would change the query's structure or meaning", () => {
  const t = compileTemplate("/p/$1?q=$1", "url");
  const m = pathMatch(/^\/(.*)$/, "/a+b&c=d e/Zoë/%2Fx");
  // Path part: unchanged, as it came.
  // Query part: + & = space and non-ASCII encoded; / and the existing %2F kept.
  assert.equal(t(m, vars({})), "/p/a+b&c=d e/Zoë/%2Fx?q=a%2Bb%26c%3Dd%20e/Zo%C3%AB/%2Fx");
  assert.deepEqual([...new URLSearchParams(split(t(m, vars({}))).query)], [["q", "a+b&c=d e/Zoë//x"]]);
  // A % that starts no escape is encoded: otherwise it would join the literal F after it into %2F.
  const f = compileTemplate("/p?q=$1F", "url");
  assert.equal(f(pathMatch(/^\/(.*)$/, "/a%2"), vars({})), "/p?q=a%252F");
});

test("$$ is a dollar sign; unknown references expand to nothing; other text after $ stays", () => {
  const t = compileTemplate(`/$$/$$<app>/$<app>/$<nope>/\${agi_missing}/$7/$x/?k=$$1`, "url");
  const m = pathMatch(/^\/(?<app>[a-z]+)$/, "/menu");
  assert.equal(t(m, vars({})), "/$/$<app>/menu////$x/?k=$1");
  assert.equal(t(null, vars({})), "/$/$<app>/////$x/?k=$1");
  assert.equal(compileTemplate("no refs at all", "url")(null, vars({})), "no refs at all");
});

test("plain mode inserts values as they are (hash_key)", () => {
  const t = compileTemplate(`\${agi_callerid}|\${agi_calleridname}|$1`, "plain");
  const m = pathMatch(/^\/(.*)$/, "/a b%20");
  assert.equal(
    t(m, vars({ agi_callerid: "+4930123", agi_calleridname: "Bob&admin=1 Zoë" })),
    "+4930123|Bob&admin=1 Zoë|a b%20",
  );
  assert.equal(expandTemplate(`\${agi_callerid}`, null, vars({ agi_callerid: "+49 30" })), "+49 30");
});

/** Header values: any code point, with the characters that matter to a URL over-represented. */
const headerValue = fc.string({
  unit: fc.oneof(
    fc.constantFrom("&", "=", "+", "#", "?", "%", "%41", " ", "/", ";", "\t", "ë", "日", "😀", "\uFEFF"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 40,
});

test("property: a header value in the query reads back exactly and never adds a parameter", () => {
  const t = compileTemplate(`/p?x=\${agi_v}&y=1`, "url");
  fc.assert(
    fc.property(headerValue, (v) => {
      const { path, query } = split(t(null, vars({ agi_v: v })));
      assert.equal(path, "/p");
      assert.deepEqual(
        [...new URLSearchParams(query)],
        [
          ["x", v],
          ["y", "1"],
        ],
      );
    }),
    { numRuns: NUM_RUNS },
  );
});

test("property: a header value in the path part stays one path segment and decodes back", () => {
  const t = compileTemplate(`/a/\${agi_v}/b`, "url");
  fc.assert(
    fc.property(headerValue, (v) => {
      const out = t(null, vars({ agi_v: v }));
      assert.equal(split(out).query, undefined);
      const segs = out.split("/");
      assert.equal(segs.length, 4);
      assert.equal(decodeURIComponent(segs[2]!), v);
    }),
    { numRuns: NUM_RUNS },
  );
});

/** WHATWG percent-decoding (what URLSearchParams does, without its `+` rule). */
function percentDecode(s: string): string {
  const b = Buffer.from(s, "utf8");
  const out: number[] = [];
  const hex = (x: number | undefined) => x !== undefined && /^[0-9A-Fa-f]$/.test(String.fromCharCode(x));
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x25 && hex(b[i + 1]) && hex(b[i + 2])) {
      out.push(Number.parseInt(b.toString("latin1", i + 1, i + 3), 16));
      i += 2;
    } else out.push(b[i]!);
  }
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(Uint8Array.from(out));
}

/** Raw path text (never `?` or `#`: the path ends before them), escapes and separators over-represented. */
const rawPathText = fc.string({
  unit: fc.oneof(
    fc.constantFrom("&", "=", "+", "%", "%2", "%20", "%41", "%e2%82%ac", "%zz", " ", "/", ";", "ë"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }).filter((c) => c !== "?" && c !== "#"),
  ),
  maxLength: 40,
});

test("property: a path capture in the query keeps its meaning and never adds a parameter", () => {
  const t = compileTemplate("/a/$1?x=$1&y=1", "url");
  fc.assert(
    fc.property(rawPathText, (s) => {
      const { path, query } = split(t(pathMatch(/^\/(.*)$/s, `/${s}`), vars({})));
      assert.equal(path, `/a/${s}`);
      assert.deepEqual(
        [...new URLSearchParams(query)],
        [
          ["x", percentDecode(s)],
          ["y", "1"],
        ],
      );
    }),
    { numRuns: NUM_RUNS },
  );
});

/**
 * The regex expansion every session ran before templates were compiled. Plain mode must
 * expand exactly like it: a hash_key that expanded differently would move callers to other
 * servers on upgrade.
 */
function oldExpand(template: string, match: RegExpExecArray | null, vars: ReadonlyMap<string, string>) {
  return template.replace(
    /\$(\$|\d|<([A-Za-z_][A-Za-z0-9_]*)>|\{([A-Za-z0-9_]+)\})/g,
    (_all, tok: string, group?: string, v?: string) => {
      if (tok === "$") return "$";
      if (group !== undefined) return match?.groups?.[group] ?? "";
      if (v !== undefined) return vars.get(v) ?? "";
      return match?.[Number(tok)] ?? "";
    },
  );
}

test("property: plain mode expands any template exactly as the old per-session regex did", () => {
  const piece = fc.oneof(
    fc.constantFrom("$", "$$", "$0", "$1", "$2", "$9", "$10", "$<app>", "$<rest>", "$<nope>", "$<1x>"),
    fc.constantFrom(
      `\${agi_callerid}`,
      `\${agi_x}`,
      `\${agi-bad}`,
      `\${}`,
      "$<",
      `\${`,
      "{",
      "}",
      "?",
      "/",
      "&",
    ),
    fc.string({ maxLength: 4 }),
  );
  const template = fc.array(piece, { maxLength: 12 }).map((p) => p.join(""));
  const match = fc.option(
    fc.string({ maxLength: 12 }).map((s) => /^(?<app>[^/]*)(?:\/(?<rest>.*))?$/s.exec(s) ?? /(x)?/.exec("")),
    { nil: null },
  );
  const varMap = fc
    .dictionary(fc.constantFrom("agi_callerid", "agi_x", "agi_y"), headerValue)
    .map((d) => new Map(Object.entries(d)));
  fc.assert(
    fc.property(template, match, varMap, (tpl, m, v) => {
      assert.equal(compileTemplate(tpl, "plain")(m, v), oldExpand(tpl, m, v));
    }),
    { numRuns: NUM_RUNS },
  );
});
