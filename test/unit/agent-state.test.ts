import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readStateFile, saveStateAtomic, validateState } from "../../src/agent/state.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "tl-agent-"));
  dirs.push(d);
  return d;
};

test("state validation follows the hapgent format", () => {
  assert.deepEqual(validateState({ status: "UP", maxconn: 300, weight: 77 }), {
    status: "UP",
    maxconn: 300,
    weight: 77,
  });
  assert.deepEqual(validateState({ status: "READY", weight: 100 }), { status: "READY", weight: 100 });
  assert.match(String(validateState({ status: "up" })), /status must be one of/);
  assert.match(
    String(validateState({ status: "UP", weight: 256 })),
    /weight must be an integer from 0 to 255/,
  );
  assert.match(String(validateState({ status: "UP", maxconn: 1.5 })), /maxconn/);
  assert.match(String(validateState({ status: "UP", wieght: 1 })), /unknown key "wieght"/);
  assert.match(String(validateState([])), /JSON object/);
});

test("reading: missing, not JSON and invalid files give a reason", () => {
  const dir = tempDir();
  assert.match(JSON.stringify(readStateFile(join(dir, "none.json"))), /cannot read/);
  writeFileSync(join(dir, "bad.json"), "{status:");
  assert.match(JSON.stringify(readStateFile(join(dir, "bad.json"))), /not JSON/);
  writeFileSync(join(dir, "ok.json"), '{"status":"DRAIN","weight":5}');
  assert.deepEqual(readStateFile(join(dir, "ok.json")), { ok: true, state: { status: "DRAIN", weight: 5 } });
});

test("atomic save replaces the file whole and leaves no temporary file", () => {
  const dir = tempDir();
  const f = join(dir, "state.json");
  writeFileSync(f, `{"status":"UP","weight":1}${" ".repeat(4096)}`);
  saveStateAtomic(f, { status: "DOWN", maxconn: 5 });
  assert.equal(readFileSync(f, "utf8"), '{"status":"DOWN","maxconn":5}\n');
  assert.deepEqual(readdirSync(dir), ["state.json"]);
  assert.throws(() => saveStateAtomic(join(dir, "missing-dir", "s.json"), { status: "UP" }));
  assert.deepEqual(readdirSync(dir), ["state.json"]);
});
