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

/** What a listener sees of its gate (ListenerContext.gate). */
export interface GateView {
  readonly open: boolean;
  readonly opened: Promise<void>;
}

/**
 * Runs `go` now when the gate is open (or there is none), else when it opens. For work that
 * needs the committed generation (routing a request); whoever calls it checks, when `go`
 * runs, that the work is still wanted.
 */
export function whenOpen(gate: GateView | undefined, go: () => void): void {
  if (gate === undefined || gate.open) go();
  else void gate.opened.then(go);
}

/**
 * Items (datagrams, messages) that arrive while the gate is closed, handed to `deliver` in
 * their order when it opens; at most `max` are held, and beyond them `overflow` gets each
 * at once. After the gate opened, items go straight to `deliver`.
 */
export function heldUntilOpen<T>(
  gate: GateView | undefined,
  deliver: (item: T) => void,
  max: number,
  overflow: (item: T) => void,
): (item: T) => void {
  if (gate === undefined || gate.open) return deliver;
  let held: T[] | undefined = [];
  void gate.opened.then(() => {
    const items = held ?? [];
    held = undefined;
    for (const item of items) deliver(item);
  });
  return (item) => {
    if (held === undefined) deliver(item);
    else if (held.length < max) held.push(item);
    else overflow(item);
  };
}
