/**
 * Putting an app on a transport: an HTTP listener (Node) or stdio. Used by the
 * handlers, and by the embedded sandbox for its own app: the MCP server is loaded only
 * when stdio needs it. Nothing here reads the environment.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Hono } from 'hono';
import type { McpServerDeps } from './mcp/server.ts';

export interface HttpListener {
  /** http://host:port */
  origin: string;
  port: number;
  /**
   * Stops accepting connections, runs `drain` while the open ones may still finish (e.g.
   * a streamed response ending as what it waits on closes), gives the requests still open
   * up to `graceMs` more to end (the answers drain made them send), then cuts those left.
   */
  close(drain?: () => Promise<void>, options?: { graceMs?: number }): Promise<void>;
}

/** Serves the app on host:port (0 = any free port) with @hono/node-server; rejects if it cannot listen. */
// biome-ignore lint/suspicious/noExplicitAny: serves any app, whatever its bindings and variables
export function listenHttp(app: Hono<any>, host: string, port: number): Promise<HttpListener> {
  return new Promise((resolve, reject) => {
    const server: ServerType = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
      server.off('error', reject);
      const shownHost = host.includes(':') ? `[${host}]` : host;
      resolve({
        origin: `http://${shownHost}:${info.port}`,
        port: info.port,
        async close(drain, { graceMs = 0 } = {}) {
          // Node's close() ends idle keep-alive connections itself; `closed` settles once the busy ones end.
          const closed = new Promise<void>((done) => server.close(() => done()));
          try {
            await drain?.();
            if (graceMs > 0) await Promise.race([closed, sleep(graceMs, undefined, { ref: false })]);
          } finally {
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }
          await closed;
        },
      });
    });
    server.once('error', reject);
  });
}

/**
 * Serves MCP over stdin/stdout until stdin closes, through the SDK's `serveStdio`:
 * the connection's opening picks the era (server/discover: 2026-07-28; initialize:
 * 2025) and one server from the factory serves the connection. `answered(ms)` resolves
 * once every request read so far has had its answer written (or after `ms`): a stop on a
 * signal waits for it, so a call in flight gets its error rather than silence.
 */
export async function serveStdio(deps: () => McpServerDeps): Promise<{ closed: Promise<void>; answered(ms: number): Promise<void> }> {
  const { serveStdio: serve, StdioServerTransport } = await import('@modelcontextprotocol/server/stdio');
  const { answerMalformedLines } = await import('./stdio-lines.ts');
  const { createMcpServer } = await import('./mcp/server.ts');
  const closed = new Promise<void>((resolve) => {
    process.stdin.once('end', () => resolve());
    process.stdin.once('close', () => resolve());
  });
  const pending = new Set<unknown>();
  const wire = new StdioServerTransport(
    answerMalformedLines(process.stdin, process.stdout, (message) => {
      const { id, method } = message as { id?: unknown; method?: unknown };
      if (id !== undefined && typeof method === 'string') pending.add(id);
    }),
    process.stdout,
  );
  const send = wire.send.bind(wire);
  wire.send = async (message) => {
    await send(message);
    if ('id' in message && !('method' in message)) pending.delete(message.id);
  };
  serve(() => createMcpServer(deps()), { transport: wire });
  const answered = async (ms: number) => {
    const until = Date.now() + ms;
    while (pending.size > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  return { closed, answered };
}
