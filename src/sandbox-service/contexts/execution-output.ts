/**
 * What one execution sends its client, and when the server stops it: the kernel's output
 * up to the byte cap (then a marker, and the execution is stopped), at most one error,
 * none after the server stopped the code (its KeyboardInterrupt is noise: the server's
 * own error says why), and nothing at all once the client has gone away.
 */
import type { ExecutionEvent } from '../../protocol/sandbox-api.ts';
import type { KernelMessage } from '../kernels/kernel-connection.ts';
import { eventFromIopub, outputSize } from '../kernels/kernel-events.ts';

/** Why an execution was stopped by the server rather than finishing by itself ('cancel': someone asked it to). */
export type StopReason = 'timeout' | 'output' | 'abort' | 'cancel';

export class ExecutionOutput {
  readonly #send: (event: ExecutionEvent) => void;
  readonly #limitBytes: number;
  #bytes = 0;
  #sentError = false;
  #reason: StopReason | undefined;
  #resolveStopped!: (reason: StopReason) => void;
  /** Resolves with the first reason the server had to stop the execution. */
  readonly stopped = new Promise<StopReason>((resolve) => (this.#resolveStopped = resolve));

  constructor(send: (event: ExecutionEvent) => void, limitBytes: number) {
    this.#send = send;
    this.#limitBytes = limitBytes;
  }

  /** True once the execution's one error went out. */
  get sentError(): boolean {
    return this.#sentError;
  }

  /** Stops the execution (the first reason holds). */
  stop(reason: StopReason): void {
    if (this.#reason) return;
    this.#reason = reason;
    this.#resolveStopped(reason);
  }

  /** Sends an event unless the rules above drop it. */
  readonly emit = (event: ExecutionEvent): void => {
    if (this.#reason === 'abort') return;
    if (event.type === 'error') {
      if (this.#reason || this.#sentError) return;
      this.#sentError = true;
    }
    this.#send(event);
  };

  /** Takes one of the execution's iopub messages: counted against the cap, sent while the code runs. */
  readonly add = (message: KernelMessage): void => {
    const event = eventFromIopub(message);
    if (!event || this.#reason) return;
    const size = outputSize(event);
    if (this.#bytes + size > this.#limitBytes) {
      const room = this.#limitBytes - this.#bytes;
      if ((event.type === 'stdout' || event.type === 'stderr') && room > 0) {
        this.emit({ ...event, text: Buffer.from(event.text).subarray(0, room).toString('utf8') });
      }
      this.#bytes = this.#limitBytes;
      this.emit({
        type: 'stderr',
        text: `\n[output truncated: this execution exceeded the limit of ${this.#limitBytes} bytes]\n`,
        timestamp: Date.now(),
      });
      this.stop('output');
      return;
    }
    this.#bytes += size;
    this.emit(event);
  };
}
