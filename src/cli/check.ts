import { loadConfigFile } from "../app/config.ts";
import { ConfigError } from "../config/load.ts";
import { errorMessage } from "../core/errors.ts";
import { one, parseArgs } from "./args.ts";

export const usage = "trunkline check -c FILE";

/** Validates a config: one `file:line:col path: message` line per problem, exit 1 on any. */
export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { options: ["config"], aliases: { "-c": "config" } });
  const file = one(args, "config") ?? args.positionals[0];
  if (!file) {
    process.stderr.write(`usage: ${usage}\n`);
    return 2;
  }
  try {
    const s = loadConfigFile(file);
    process.stdout.write(
      `${file}: ok (${s.listeners.length} listener${s.listeners.length === 1 ? "" : "s"}, ${s.routes.length} route${s.routes.length === 1 ? "" : "s"}, ${s.pools.size} pool${s.pools.size === 1 ? "" : "s"})\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems)
        process.stdout.write(
          `${p.file}:${p.line}:${p.col} ${p.path === "" ? "(root)" : p.path}: ${p.message}\n`,
        );
    } else process.stdout.write(`${file}: ${errorMessage(err)}\n`);
    return 1;
  }
}
