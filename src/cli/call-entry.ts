/** Runs `trunkline call` directly (`node --import tsx src/cli/call-entry.ts URL ...`). */
import { main } from "./call.ts";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `trunkline call: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
