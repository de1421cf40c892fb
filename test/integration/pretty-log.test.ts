import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { prettyLine } from "../../src/observe/pretty.ts";

test("a JSON record becomes one human line: time, level, message, then the fields", () => {
  const line = JSON.stringify({
    level: 40,
    severity: "warn",
    time: "2026-12-01T10:00:00.123Z",
    app: "trunkline",
    pid: 1,
    event: "session",
    outcome: "upstream_gone",
    error: "server closed with 1 of 2 commands unanswered",
    msg: "session ended",
  });
  assert.equal(
    prettyLine(line),
    '10:00:00.123 WARN  session ended  event=session outcome=upstream_gone error="server closed with 1 of 2 commands unanswered"\n',
  );
  assert.equal(prettyLine("not json"), "not json\n");
  assert.match(prettyLine(line, true), /\x1b\[33mWARN \x1b\[0m/);
});

test("on a terminal `trunkline run` logs pretty lines, not JSON (the other CLI tests read JSON through pipes)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tl-pretty-"));
  const file = join(dir, "t.yaml");
  writeFileSync(
    file,
    "listeners: [ { name: agi, protocol: fastagi, listen: 127.0.0.1:0 } ]\nroutes: [ { listener: agi, pool: p } ]\npools: { p: { servers: [ { address: 127.0.0.1:1 } ] } }\n",
  );
  const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
  // util-linux's script(1) gives the command a pseudo-terminal as stdout.
  const cmd = `${process.execPath} --import tsx ${main} run -c ${file} --no-watch`;
  const child = spawn("script", ["-qfec", cmd, "/dev/null"], {
    env: { ...process.env, TRUNKLINE_LOG_FORMAT: "" },
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const seen = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 15_000);
    const check = () => {
      if (/INFO.{0,12}trunkline started/.test(out)) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    child.stdout.on("data", check);
    child.on("exit", () => resolve(false));
  });
  child.kill("SIGTERM");
  assert.ok(seen, `no pretty line in: ${out.slice(0, 500)}`);
  assert.equal(/"msg":"trunkline started"/.test(out), false, "not JSON on a terminal");
});
