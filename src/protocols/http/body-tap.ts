import { Readable } from "node:stream";

/**
 * The client's request body as one try sees it: a Readable that pulls from the client only
 * when the upstream connection asks for bytes, and whose destruction (a failed try) leaves
 * the client's stream untouched. `taken` tells whether any byte went out: a try that took
 * none can be made again on another server.
 */
export class BodyTap extends Readable {
  readonly #src: Readable;
  #taken = 0;
  #attached = false;
  readonly #onData = (chunk: Buffer) => {
    this.#taken += chunk.length;
    if (!this.push(chunk)) this.#src.pause();
  };
  readonly #onEnd = () => this.push(null);
  readonly #onError = (err: Error) => this.destroy(err);

  constructor(src: Readable) {
    // Chunks are passed through as they come; the buffer bound is the source's own.
    super({ highWaterMark: 64 * 1024 });
    this.#src = src;
  }

  get taken(): number {
    return this.#taken;
  }

  override _read(): void {
    if (!this.#attached) {
      this.#attached = true;
      if (this.#src.readableEnded) {
        this.push(null);
        return;
      }
      this.#src.on("data", this.#onData);
      this.#src.once("end", this.#onEnd);
      this.#src.once("error", this.#onError);
    }
    this.#src.resume();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.#detach();
    cb(err);
  }

  #detach(): void {
    if (!this.#attached) return;
    this.#src.off("data", this.#onData);
    this.#src.off("end", this.#onEnd);
    this.#src.off("error", this.#onError);
    this.#src.pause();
  }
}
