// The Node flags Trunkline is deployed with: those of `npm start` (package.json), which the
// systemd units in contrib/ carry too (a test holds them equal). The benchmarks start
// `node FLAGS main.js`, Trunkline as deployed; a …-ref build gets those of its own checkout.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The flags of the `start` script in the package.json two folders above `mainJs` (dist/cli/main.js). */
export function shippedNodeFlags(mainJs: string): string[] {
  try {
    const pkg = JSON.parse(readFileSync(join(dirname(mainJs), "..", "..", "package.json"), "utf8")) as {
      scripts?: { start?: unknown };
    };
    return typeof pkg.scripts?.start === "string" ? startFlags(pkg.scripts.start) : [];
  } catch {
    return [];
  }
}

/** `node --a --b=1 dist/cli/main.js run …` → ["--a", "--b=1"]; anything else → []. */
export function startFlags(script: string): string[] {
  const m = /^node((?: +--?[A-Za-z0-9][\w.=-]*)*) +dist\/cli\/main\.js(?: |$)/.exec(script.trim());
  return m?.[1] === undefined
    ? []
    : m[1]
        .trim()
        .split(/ +/)
        .filter((a) => a !== "");
}
