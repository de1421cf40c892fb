import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ErrorCodes } from "../../src/core/errors.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith(".ts")) out.push(p);
  }
  return out;
}

test("every error code is documented in the README's Error codes table", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("## Error codes");
  assert.ok(start >= 0, "README has an Error codes section");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  for (const code of Object.values(ErrorCodes))
    assert.match(section, new RegExp(`\\| \`${code}\` \\|`), code);
  const documented = [...section.matchAll(/\| `(E_[A-Z_]+)` \|/g)].map((m) => m[1]);
  assert.deepEqual(
    documented.filter((c) => !Object.values(ErrorCodes).includes(c as never)),
    [],
    "no documented code that the code does not have",
  );
});

test("every declared error code is raised or logged somewhere", () => {
  const text = sources(join(ROOT, "src"))
    .filter((f) => !f.endsWith(join("core", "errors.ts")))
    .map((f) => readFileSync(f, "utf8"))
    .join("\n");
  for (const key of Object.keys(ErrorCodes)) assert.match(text, new RegExp(`ErrorCodes\\.${key}\\b`), key);
});
