/**
 * The legacy HTTP+SSE transport (protocol 2024-11-05) over the SDK's `Transport`
 * interface: one GET stream per connection, whose first event names the URL to
 * POST messages to, and every message to the client as an SSE `message` event.
 * The SDK's v2 line ships no SSE server transport; this is the small part of v1's
 * `SSEServerTransport` this server needs, on web streams so Hono can return it.
 */
import { parseJSONRPCMessage, type JSONRPCMessage, type Transport } from '@modelcontextprotocol/server';

const encoder = new TextEncoder();
/** Comment frames keep proxies (and FC's gateway) from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

export class SseServerTransport implements Transport {
  readonly sessionId = crypto.randomUUID();
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** The GET /sse response; its body is this connection's stream. */
  readonly response: Response;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;
  #keepalive: NodeJS.Timeout | undefined;

  constructor(private readonly messagesPath: string) {
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.close(),
    });
    this.response = new Response(stream, {
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive' },
    });
  }

  async start(): Promise<void> {
    this.#write(`event: endpoint\ndata: ${this.messagesPath}?sessionId=${this.sessionId}\n\n`);
    this.#keepalive = setInterval(() => this.#write(': keepalive\n\n'), KEEPALIVE_MS);
    this.#keepalive.unref();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) throw new Error('the SSE connection is closed');
    this.#write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** A POSTed message: validated, then handed to the server; throws on one that is not JSON-RPC. */
  receive(value: unknown): void {
    const message = parseJSONRPCMessage(value);
    this.onmessage?.(message);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    try {
      this.#controller.close();
    } catch {
      // already closed by the client's cancel
    }
    this.onclose?.();
  }

  #write(frame: string): void {
    if (this.#closed) return;
    try {
      this.#controller.enqueue(encoder.encode(frame));
    } catch (error) {
      this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
