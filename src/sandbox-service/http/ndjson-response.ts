/**
 * A streamed NDJSON response written straight to Node's ServerResponse, lines
 * queued in the same turn of the event loop leaving as one chunk. The events of one
 * burst of kernel messages (a result, the reply, end_of_execution) then cost one
 * socket write instead of one each, while output that comes apart in time (print,
 * sleep, print) still leaves apart.
 *
 * Hand-written rather than Hono's `stream()` helper: that pipes every line through
 * a TransformStream and a second ReadableStream, and @hono/node-server then sends
 * the headers in a write of their own and every chunk in another; on this path
 * those writes and stream hops cost more CPU than the kernel round trip. Here the
 * headers leave with the first lines, and the last lines with the end of the body.
 * (Should nothing come for a while, the headers go alone, so the client knows the
 * request was taken.) There is no backpressure: the per-execution output cap bounds
 * what can queue up.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** How long the headers wait for the first line to travel with. */
const HEADERS_WAIT_MS = 20;

export class NdjsonResponse {
  readonly #outgoing: ServerResponse;
  readonly #headers: OutgoingHttpHeaders;
  #pending = '';
  #scheduled = false;
  #done = false;
  #headersTimer: NodeJS.Timeout | undefined;

  /** `onGone` runs when the client goes away before close(). */
  constructor(outgoing: ServerResponse, headers: OutgoingHttpHeaders, onGone: () => void) {
    this.#outgoing = outgoing;
    this.#headers = headers;
    this.#headersTimer = setTimeout(() => {
      if (this.#done) return;
      this.#head();
      this.#outgoing.flushHeaders();
    }, HEADERS_WAIT_MS);
    outgoing.once('close', () => {
      clearTimeout(this.#headersTimer);
      if (this.#done) return;
      this.#done = true;
      this.#pending = '';
      onGone();
    });
  }

  /** Queues one line (with its newline); it leaves at the end of this turn of the event loop. */
  push(line: string): void {
    if (this.#done) return;
    this.#pending += line;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Sends what is queued and ends the response. */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#head();
    const rest = this.#pending;
    this.#pending = '';
    if (rest === '') this.#outgoing.end();
    else this.#outgoing.end(rest);
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#done || this.#pending === '') return;
    this.#head();
    const chunk = this.#pending;
    this.#pending = '';
    this.#outgoing.write(chunk);
  }

  /** Headers are only set here; Node sends them in the same write as the first chunk. */
  #head(): void {
    clearTimeout(this.#headersTimer);
    if (!this.#outgoing.headersSent) this.#outgoing.writeHead(200, this.#headers);
  }
}
