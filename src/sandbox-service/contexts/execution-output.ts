/**
 * What one execution sends its client, and when the server stops it: the kernel's output
 * up to the byte cap and the event cap (then a marker, and the execution is stopped; each
 * event costs EVENT_COST_BYTES besides its own bytes, so empty ones are not free), at most one error,
 * none after the server stopped the code (its KeyboardInterrupt is noise: the server's
 * own error says why), and nothing at all once the client has gone away.
 */
import type { ExecutionEvent } from '../../protocol/sandbox-api.ts';
import type { KernelMessage } from '../kernels/kernel-connection.ts';
import { eventFromIopub, outputSize } from '../kernels/kernel-events.ts';

/** Why an execution was stopped by the server rather than finishing by itself ('cancel': someone asked it to). */
export type StopReason = 'timeout' | 'output' | 'abort' | 'cancel';

/**
 * What an output event costs besides its text: its record in memory, here and wherever it waits
 * to be read (uncounted, 500,000 empty `stream` messages took 75 MB and counted 0 bytes).
 */
export const EVENT_COST_BYTES = 64;

export class ExecutionOutput {
  readonly #send: (event: ExecutionEvent) => void;
  readonly #limitBytes: number;
  readonly #limitEvents: number;
  #bytes = 0;
  #events = 0;
  #overflow: string | undefined;
  #sentError = false;
  #reason: StopReason | undefined;
  #resolveStopped!: (reason: StopReason) => void;
  /** Resolves with the first reason the server had to stop the execution. */
  readonly stopped = new Promise<StopReason>((resolve) => (this.#resolveStopped = resolve));

  constructor(send: (event: ExecutionEvent) => void, limitBytes: number, limitEvents: number) {
    this.#send = send;
    this.#limitBytes = limitBytes;
    this.#limitEvents = limitEvents;
  }

  /** What the execution produced too much of, once stopped for it ('output'): e.g. "more than 4194304 bytes of output". */
  get overflow(): string | undefined {
    return this.#overflow;
  }

  /** Stops the execution for what it produced (`what`: "more … than …"), with a marker in its output. */
  overLimit(what: string): void {
    if (this.#reason) return;
    this.#overflow = what;
    this.emit({ type: 'stderr', text: `\n[output truncated: this execution produced ${what}]\n`, timestamp: Date.now() });
    this.stop('output');
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
    if (++this.#events > this.#limitEvents) {
      this.overLimit(`more than ${this.#limitEvents} output events (SANDBOX_MAX_OUTPUT_EVENTS)`);
      return;
    }
    const size = outputSize(event) + EVENT_COST_BYTES;
    if (this.#bytes + size > this.#limitBytes) {
      const room = this.#limitBytes - this.#bytes - EVENT_COST_BYTES;
      if ((event.type === 'stdout' || event.type === 'stderr') && room > 0) {
        this.emit({ ...event, text: Buffer.from(event.text).subarray(0, room).toString('utf8') });
      }
      this.#bytes = this.#limitBytes;
      this.#overflow = `more than ${this.#limitBytes} bytes of output`;
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
