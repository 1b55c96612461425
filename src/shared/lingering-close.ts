/**
 * `lingeringRefusal(c, refusal)`: answers a request whose body will not be read (a 413)
 * so that the client always reads the answer, with a lingering close as nginx does it.
 *
 * Closing a connection while the client is still sending makes the kernel answer the
 * bytes that keep arriving with a reset, and a reset throws away what the client had
 * received but not yet read: the client sees "fetch failed" (EPIPE, ECONNRESET)
 * instead of the 413. So the refusal is sent whole at once (status, headers,
 * `Content-Length`, message, `Connection: close`), and the response is ended only once
 * the rest of the body has been read and discarded, or once a bound is reached: a few
 * seconds, and a multiple of the limit, so that a slow or endless sender cannot hold
 * the connection. Node closes the connection as the response ends (`Connection: close`),
 * so a kept-alive client's next request goes out on a fresh connection.
 *
 * Served by anything other than @hono/node-server (`app.request()`), there is no
 * connection to linger on: the refusal is returned as it is, with `Connection: close`.
 *
 * @example bodyLimit({ maxSize, onError: (c) => lingeringRefusal(c, tooLarge(), { ms: 5000, bytes: 16 * maxSize }) })
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

export interface LingerBounds {
  /** The longest the rest of the body is read for, from the refusal on, in milliseconds. */
  ms: number;
  /** The most bytes of the rest of the body read and discarded. */
  bytes: number;
}

export async function lingeringRefusal(c: Context, refusal: Response, bounds: LingerBounds): Promise<Response> {
  const headers = new Headers(refusal.headers);
  headers.set('Connection', 'close');
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming || incoming.readableEnded || incoming.destroyed) {
    return new Response(refusal.body, { status: refusal.status, statusText: refusal.statusText, headers });
  }
  const message = new Uint8Array(await refusal.arrayBuffer());
  headers.set('Content-Length', String(message.byteLength));
  const discarded = discardRest(incoming, bounds);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(message);
      void discarded.then(() => {
        try {
          controller.close();
        } catch {
          // already cancelled: the client had its answer and went first
        }
      });
    },
  });
  return new Response(body, { status: refusal.status, statusText: refusal.statusText, headers });
}

/** Reads the request's body to its end and drops it; resolves at the end, on a bound, or when the client goes. */
function discardRest(incoming: IncomingMessage, bounds: LingerBounds): Promise<void> {
  return new Promise((resolve) => {
    let read = 0;
    const done = () => {
      clearTimeout(timer);
      incoming.off('data', count);
      incoming.off('end', done);
      incoming.off('close', done);
      resolve();
    };
    const count = (chunk: Buffer) => {
      read += chunk.length;
      if (read > bounds.bytes) done();
    };
    const timer = setTimeout(done, bounds.ms);
    // hono/body-limit may have read a chunked body through a web stream up to the limit:
    // that stream (abandoned now) pauses the request at every chunk it queues, so it
    // lets go of the body here, and what arrives from now on is counted and dropped.
    incoming.removeAllListeners('data');
    incoming.on('data', count);
    incoming.once('end', done);
    incoming.once('close', done);
    incoming.on('error', done); // a client that resets: nothing left to read (kept, so a late error is not unhandled)
    incoming.resume();
  });
}
