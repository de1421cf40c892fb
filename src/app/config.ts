import { parseConfig, readConfigText } from "../config/load.ts";
import type { Snapshot } from "../config/types.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

/** Validates config text with every registered protocol's section; throws a ConfigError. */
export function parseConfigText(text: string, file: string): Snapshot {
  return parseConfig(text, file, PROTOCOLS);
}

/** Reads and validates a config file; throws a ConfigError (E_CONFIG_READ when unreadable). */
export function loadConfigFile(file: string): Snapshot {
  return parseConfigText(readConfigText(file), file);
}
