import assert from "node:assert/strict";
import { parseConfigText } from "../../src/app/config.ts";
import { ConfigError } from "../../src/config/load.ts";

/** The lines of the ConfigError a config text (as file `t.yaml`) must raise. */
export function problems(text: string): string[] {
  try {
    parseConfigText(text, "t.yaml");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split("\n");
  }
  assert.fail("expected a ConfigError");
}
