import { ErrorCodes, TrunklineError } from "../core/errors.ts";
/** A small argv parser: `--name value`, `--name=value`, repeatable options, positionals. */
export interface ParsedArgs {
  readonly positionals: string[];
  readonly options: Map<string, string[]>;
  readonly flags: Set<string>;
}

/** A bad command line: exit 2 with the message. */
export class UsageError extends TrunklineError {
  override name = "UsageError";
  constructor(message: string) {
    super(ErrorCodes.USAGE, message);
  }
}

export function parseArgs(
  argv: readonly string[],
  spec: { options?: readonly string[]; flags?: readonly string[]; aliases?: Record<string, string> },
): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string[]>();
  const flags = new Set<string>();
  const opts = new Set(spec.options ?? []);
  const fl = new Set(spec.flags ?? []);
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i] as string;
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      positionals.push(a);
      continue;
    }
    let value: string | undefined;
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) {
      value = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const name = spec.aliases?.[a] ?? a.replace(/^--?/, "");
    if (fl.has(name)) {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.add(name);
    } else if (opts.has(name)) {
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
      }
      options.set(name, [...(options.get(name) ?? []), value]);
    } else {
      throw new UsageError(`unknown option ${a}`);
    }
  }
  return { positionals, options, flags };
}

export function one(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  return v === undefined ? undefined : v[v.length - 1];
}

/** `--header name=value` pairs. */
export function headerPairs(values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new UsageError(`--header wants name=value, got "${v}"`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}
