// The SIP benchmark's ratio table (bench/sip/report.ts) and Kamailio's like-for-like configs
// (bench/sip/kamailio-cfg.ts): each one-thread Trunkline target is held against the plain
// Kamailio of issue 13 and against Kamailio tracking its calls (dialog) with and without a
// CDR line per call; who logs is read from the logs' growth, not from the names.
import assert from "node:assert/strict";
import { test } from "node:test";
import { kamailioCfg } from "../../bench/sip/kamailio-cfg.ts";
import { logsPerCall, ratios, type Summary } from "../../bench/sip/report.ts";

function summary(target: string, sustained: number | null, cpu: number, logBytes: number | null): Summary {
  return {
    target,
    sustained,
    reached_max: false,
    stopped_by: null,
    proxy_cpu_us_per_call: cpu,
    proxy_user_us_per_call: null,
    proxy_system_us_per_call: null,
    proxy_cpu_pct: null,
    answerers_cpu_us_per_call: null,
    caller_cpu_us_per_call: null,
    measured_cores: null,
    calls_in_progress: null,
    kib_per_call_in_progress: null,
    rss_kib_per_call_in_progress: null,
    log_bytes_per_call: logBytes,
  };
}

test("every one-thread Trunkline target is held against kamailio, kamailio-dlg and kamailio-cdr", () => {
  const rows = ratios([
    summary("kamailio", 6250, 180, 0),
    summary("kamailio-dlg", 4500, 250, 0),
    summary("kamailio-cdr", 4000, 280, 239),
    summary("trunkline-rr", 4250, 280, 519),
    summary("trunkline-rr-nolog", 4250, 260, 0.4),
    summary("trunkline-rr-node24-w2", 5000, 300, 519),
  ]);
  assert.deepEqual(
    rows.map((r) => [r.trunkline, r.against, r.logging, r.bar]),
    [
      ["trunkline-rr", "kamailio", "Trunkline only", "FAIL"],
      ["trunkline-rr", "kamailio-dlg", "Trunkline only", "FAIL"],
      ["trunkline-rr", "kamailio-cdr", "both", "PASS"],
      ["trunkline-rr-nolog", "kamailio", "neither", "FAIL"],
      ["trunkline-rr-nolog", "kamailio-dlg", "neither", "FAIL"],
      ["trunkline-rr-nolog", "kamailio-cdr", "Kamailio only", "PASS"],
      // Two threads: against kamailio-c2 when it ran, else kamailio; not the one-receiver pairs.
      ["trunkline-rr-node24-w2", "kamailio", "Trunkline only", "FAIL"],
    ],
  );
  const both = rows[2];
  assert.ok(both !== undefined);
  assert.equal(both.sustained, 1.063);
  assert.equal(both.cpu_per_call, 1);
});

test("a Kamailio variant that did not run adds no rows; an unknown log growth is said so", () => {
  const rows = ratios([
    summary("kamailio", 3000, 200, null),
    summary("kamailio-cdr", null, 0, null),
    summary("trunkline-rr", 3000, 250, 519),
  ]);
  assert.deepEqual(
    rows.map((r) => [r.against, r.logging, r.bar]),
    [["kamailio", "unknown", "PASS"]],
  );
  assert.equal(logsPerCall(summary("x", 1, 1, 19.9)), false);
  assert.equal(logsPerCall(summary("x", 1, 1, 20)), true);
  assert.equal(logsPerCall(undefined), null);
});

test("Kamailio's configs: plain keeps no dialogs; dlg tracks each call; cdr logs one line per call", () => {
  const base = { port: 5060, listFile: "/tmp/list", children: 1, modulesDir: "/m/" };
  const plain = kamailioCfg(base);
  const dlg = kamailioCfg({ ...base, calls: "dialog" });
  const cdr = kamailioCfg({ ...base, calls: "cdr" });
  for (const cfg of [plain, dlg, cdr]) assert.match(cfg, /ds_select_dst\("1", "4"\)/);
  assert.doesNotMatch(plain, /dialog\.so|acc\.so|dlg_manage/);
  assert.match(plain, /^debug=0$/m);
  assert.match(dlg, /loadmodule "dialog\.so"/);
  assert.match(dlg, /if \(is_method\("INVITE"\)\) dlg_manage\(\);/);
  assert.doesNotMatch(dlg, /acc\.so/);
  assert.match(dlg, /^debug=0$/m);
  assert.match(cdr, /modparam\("acc", "cdr_enable", 1\)/);
  assert.match(cdr, /\$dlg_var\(server\) = \$du;/);
  // acc writes its CDRs at notice: shown from debug=2 (measured: none at 1).
  assert.match(cdr, /^debug=2$/m);
  // dlg_manage() comes before record_route(), so the Record-Route carries the dialog's did.
  assert.ok(cdr.indexOf("dlg_manage()") < cdr.indexOf("record_route()"));
});
