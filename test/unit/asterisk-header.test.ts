import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { TrunklineError } from "../../src/core/errors.ts";
import {
  buildAsteriskHeader,
  CAPTURED_HEADER,
  headerForUrl,
  networkScriptOf,
} from "../../src/protocols/fastagi/asterisk-header.ts";

const RAW = readFileSync(new URL("../fixtures/agi/asterisk-23.4.1-originate-query.raw", import.meta.url));
const CAPTURED_URL = "agi://127.0.0.1:4580/hello?x=1&y=%20z";

const lines = (b: Buffer) => b.toString("utf8").split("\n");

describe("buildAsteriskHeader", () => {
  it("the embedded constant is the captured file byte for byte", () => {
    assert.deepEqual(CAPTURED_HEADER, RAW);
  });

  it("reproduces the captured header byte for byte for its URL and arguments", () => {
    assert.deepEqual(buildAsteriskHeader({ url: CAPTURED_URL, args: ["arg1", "arg"] }), RAW);
  });

  it("writes no agi_network_script when the URL has no path", () => {
    for (const url of ["agi://127.0.0.1:4573", "agi://127.0.0.1:4573/"]) {
      const l = lines(buildAsteriskHeader({ url }));
      assert.deepEqual(l.slice(0, 3), [
        "agi_network: yes",
        `agi_request: ${url}`,
        "agi_channel: Local/ans@load-0001ce1c;1",
      ]);
      assert.ok(!l.some((x) => x.startsWith("agi_network_script")));
    }
  });

  it("takes the script raw, query included, not decoded", () => {
    const l = lines(buildAsteriskHeader({ url: "agi://h:1/ivr/menu?lang=fr&q=%C3%A9+x" }));
    assert.equal(l[1], "agi_network_script: ivr/menu?lang=fr&q=%C3%A9+x");
    assert.equal(networkScriptOf("agi://h/a"), "a");
    assert.equal(networkScriptOf("agi://h:4573"), undefined);
  });

  it("keeps Asterisk's order, the empty accountcode's trailing space and the closing empty line", () => {
    const b = buildAsteriskHeader({ url: "agi://h/x" });
    const names = lines(b).map((l) => l.split(":")[0]);
    assert.deepEqual(names, [
      ...[
        "agi_network",
        "agi_network_script",
        "agi_request",
        "agi_channel",
        "agi_language",
        "agi_type",
        "agi_uniqueid",
      ],
      ...[
        "agi_version",
        "agi_callerid",
        "agi_calleridname",
        "agi_callingpres",
        "agi_callingani2",
        "agi_callington",
      ],
      ...[
        "agi_callingtns",
        "agi_dnid",
        "agi_rdnis",
        "agi_context",
        "agi_extension",
        "agi_priority",
        "agi_enhanced",
      ],
      ...["agi_accountcode", "agi_threadid", "", ""],
    ]);
    assert.ok(b.includes(Buffer.from("\nagi_accountcode: \n")));
    assert.ok(b.subarray(-2).equals(Buffer.from("\n\n")));
  });

  it("vars replace in place, UTF-8 passes unchanged, unknown names come last", () => {
    const b = buildAsteriskHeader({
      url: "agi://h/x",
      vars: { agi_calleridname: "Zoë Ünal 電話", agi_callerid: "+4930123", agi_x_custom: "1" },
      args: ["a b"],
    });
    const l = lines(b);
    assert.equal(l[8], "agi_callerid: +4930123");
    assert.equal(l[9], "agi_calleridname: Zoë Ünal 電話");
    assert.ok(
      b.includes(
        Buffer.from("agi_calleridname: Zo\xc3\xab \xc3\x9cnal \xe9\x9b\xbb\xe8\xa9\xb1\n", "latin1"),
      ),
    );
    assert.deepEqual(l.slice(-4), ["agi_arg_1: a b", "agi_x_custom: 1", "", ""]);
  });

  it("rejects a value that would forge a header line, and a bad name", () => {
    assert.throws(
      () => buildAsteriskHeader({ url: "agi://h/x", vars: { agi_callerid: "1\nagi_request: x" } }),
      TrunklineError,
    );
    assert.throws(() => buildAsteriskHeader({ url: "agi://h/x", vars: { "bad name": "1" } }), TrunklineError);
    assert.throws(() => buildAsteriskHeader({ url: "agi://h/x\r" }), TrunklineError);
  });
});

describe("headerForUrl", () => {
  it("replaces request and script and nothing else", () => {
    const out = headerForUrl(RAW, "agi://10.0.0.1:4573/ivr?lang=de");
    const expected = Buffer.from(
      RAW.toString("latin1")
        .replace("agi_network_script: hello?x=1&y=%20z", "agi_network_script: ivr?lang=de")
        .replace(`agi_request: ${CAPTURED_URL}`, "agi_request: agi://10.0.0.1:4573/ivr?lang=de"),
      "latin1",
    );
    assert.deepEqual(out, expected);
  });

  it("drops the script line for a URL without a path", () => {
    const out = headerForUrl(RAW, "agi://10.0.0.1:4573");
    assert.equal(
      out.length,
      RAW.length -
        "agi_network_script: hello?x=1&y=%20z\n".length -
        (CAPTURED_URL.length - "agi://10.0.0.1:4573".length),
    );
    assert.ok(!out.includes("agi_network_script"));
    assert.ok(out.includes("agi_network: yes\nagi_request: agi://10.0.0.1:4573\nagi_channel"));
  });
});
