/**
 * A progress bar on stderr for large transfers: bytes, percent when the total is known,
 * and rate, redrawn at most ten times a second. Silent when stderr is not a terminal.
 */
import { Transform, type TransformCallback } from 'node:stream';

const MIB = 1024 * 1024;

export class ProgressBar extends Transform {
  readonly #label: string;
  readonly #total: number | undefined;
  readonly #out: NodeJS.WriteStream;
  readonly #started = Date.now();
  #bytes = 0;
  #drawn = 0;

  constructor(label: string, total: number | undefined, out: NodeJS.WriteStream = process.stderr) {
    super();
    this.#label = label;
    this.#total = total;
    this.#out = out;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    const now = Date.now();
    if (now - this.#drawn >= 100) {
      this.#drawn = now;
      this.#draw();
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#draw();
    this.#out.write('\n');
    callback();
  }

  #draw(): void {
    const seconds = Math.max(0.001, (Date.now() - this.#started) / 1000);
    const rate = `${(this.#bytes / MIB / seconds).toFixed(1)} MiB/s`;
    const done = (this.#bytes / MIB).toFixed(1);
    if (this.#total === undefined || this.#total === 0) {
      this.#out.write(`\r${this.#label} ${done} MiB ${rate}`);
      return;
    }
    const fraction = Math.min(1, this.#bytes / this.#total);
    const width = 30;
    const filled = Math.round(fraction * width);
    this.#out.write(`\r${this.#label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${done}/${(this.#total / MIB).toFixed(1)} MiB ${rate}`);
  }
}

/** Show a bar when asked, or by default when stderr is a terminal and the transfer is over 1 MiB (or of unknown size). */
export function wantProgress(flag: boolean | undefined, total: number | undefined): boolean {
  if (flag !== undefined) return flag;
  return process.stderr.isTTY && (total === undefined || total > MIB);
}
