import type { Masker, MaskingStream } from '@tollgate/core';

/**
 * One output stream of a channel (stdout or stderr) on its way to the agent, through the
 * streaming masker: a value split across SSH packets is still masked, because the masker holds
 * back the bytes that could still be the start of one.
 *
 * Interactive sessions cannot wait for the end of the stream: with `idleFlushMs`, bytes held back
 * are released when no more output arrives for that long (the masker is finished and a fresh one
 * continues). A value split across such a pause is then not recognised — the price of a prompt
 * that appears; exec channels without a pty do not use it.
 */
export class OutputMasking {
  readonly counts: Record<string, number> = {};
  #stream: MaskingStream;
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(
    private readonly masker: Masker,
    private readonly emit: (masked: Buffer) => void,
    private readonly idleFlushMs?: number,
  ) {
    this.#stream = masker.stream();
  }

  /** Masks a chunk; what can be decided already goes to `emit`. */
  write(chunk: Buffer): void {
    if (this.#done) return;
    const out = this.#stream.write(chunk);
    if (out.length) this.emit(out);
    if (this.idleFlushMs !== undefined) {
      clearTimeout(this.#timer);
      if (this.#stream.held > 0) this.#timer = setTimeout(() => this.#flush(false), this.idleFlushMs);
    }
  }

  /** The end of the stream: everything held back is masked and emitted. */
  finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#flush(true);
  }

  #flush(last: boolean): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const tail = this.#stream.finish();
    for (const [k, v] of Object.entries(this.#stream.counts)) this.counts[k] = (this.counts[k] ?? 0) + v;
    if (tail.length) this.emit(tail);
    if (!last) this.#stream = this.masker.stream();
  }
}
