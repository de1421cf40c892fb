import { type ChildProcess, spawn } from "node:child_process";

/**
 * Runs a local command every interval (`/bin/sh -c CMD`); reports each result change.
 * Runs never overlap (the next is scheduled when one ends), each is bounded by `timeoutMs`,
 * and the first run starts at once so a failing service is reported DOWN from the start.
 */
export class CheckRunner {
  readonly #cmd: string;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #onChange: (failing: string | undefined) => void;
  #timer: NodeJS.Timeout | undefined;
  #child: ChildProcess | undefined;
  #stopped = false;
  #last: string | undefined | null = null;

  constructor(
    cmd: string,
    intervalMs: number,
    timeoutMs: number,
    onChange: (failing: string | undefined) => void,
  ) {
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
      // Its own process group, so a timeout also ends what the shell started (`a; b`,
      // pipelines), not only the shell.
      const child = spawn("/bin/sh", ["-c", this.#cmd], { stdio: "ignore", detached: true });
      this.#child = child;
      let timedOut = false;
      const killer = setTimeout(() => {
        timedOut = true;
        killGroup(child);
      }, this.#timeoutMs);
      let finished = false;
      const finish = (failing: string | undefined) => {
        if (finished) return;
        finished = true;
        clearTimeout(killer);
        this.#child = undefined;
        if (this.#stopped) return resolve();
        if (failing !== this.#last) {
          this.#last = failing;
          this.#onChange(failing);
        }
        this.#timer = setTimeout(() => void this.#run(), this.#intervalMs);
        resolve();
      };
      child.on("error", (err) => finish(`check command could not run: ${err.message}`));
      child.on("exit", (code, signal) => {
        if (timedOut) finish(`check command did not finish within ${this.#timeoutMs}ms`);
        else if (code === 0) finish(undefined);
        else finish(signal ? `check command killed by ${signal}` : `check command exited with ${code}`);
        // Whatever the shell left behind in its group goes with it.
        killGroup(child);
      });
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#child) killGroup(this.#child);
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // The group is already gone.
  }
}
