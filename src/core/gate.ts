/**
 * A one-way gate: closed, then open for good. A listener bound by a reload's first phase
 * accepts connections before the reload is committed (worker threads commit together, after
 * every one has bound); its sessions wait at its gate for the generation that routes them,
 * instead of routing with none ("runtime not started") or with an older one that has no
 * routes for it.
 */
export class Gate {
  #open = false;
  #resolve: (() => void) | undefined;
  readonly opened: Promise<void>;

  constructor() {
    this.opened = new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
  }

  get open(): boolean {
    return this.#open;
  }

  /** Opens it (once); whoever waits goes on. */
  openNow(): void {
    if (this.#open) return;
    this.#open = true;
    this.#resolve?.();
  }
}
