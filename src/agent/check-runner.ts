import { spawn } from "node:child_process";

/**
 * Runs a local command every interval (`/bin/sh -c CMD`); reports each result change.
 * Runs never overlap, each is bounded by `timeoutMs` (killed after), and the first run
 * starts at once so a failing service is reported DOWN from the start.
 */
export class CheckRunner {
  readonly #cmd: string;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #onChange: (failing: string | undefined) => void;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #last: string | undefined | null = null;

  constructor(cmd: string, intervalMs: number, timeoutMs: number, onChange: (failing: string | undefined) => void) {
    this.#cmd = cmd;
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#onChange = onChange;
  }

  start(): void {
    void this.#run();
  }

  #run(): Promise<void> {
    return new Promise((resolve) => {
      const child = spawn("/bin/sh", ["-c", this.#cmd], { stdio: "ignore" });
      const killer = setTimeout(() => child.kill("SIGKILL"), this.#timeoutMs);
      const finish = (failing: string | undefined) => {
        clearTimeout(killer);
        if (failing !== this.#last) {
          this.#last = failing;
          this.#onChange(failing);
        }
        if (!this.#stopped) {
          this.#timer = setTimeout(() => void this.#run(), this.#intervalMs);
        }
        resolve();
      };
      child.on("error", (err) => finish(`check command could not run: ${err.message}`));
      child.on("exit", (code, signal) => {
        if (code === 0) finish(undefined);
        else finish(signal ? `check command killed by ${signal} (timeout ${this.#timeoutMs}ms?)` : `check command exited with ${code}`);
      });
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }
}
