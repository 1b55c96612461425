/**
 * Putting the app on a transport: an HTTP listener (Node) or stdio. Used by the
 * handlers; nothing here reads the environment.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { createMcpServer, type McpServerDeps } from './mcp/server.ts';

export interface HttpListener {
  /** http://host:port */
  origin: string;
  port: number;
  close(): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: serves any app, whatever its bindings and variables
export function listenHttp(app: Hono<any>, host: string, port: number): Promise<HttpListener> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    const onError = (error: Error) => reject(error);
    server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
      server.off('error', onError);
      const shownHost = host.includes(':') ? `[${host}]` : host;
      resolve({
        origin: `http://${shownHost}:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    });
    server.on('error', onError);
  });
}

/**
 * Serves MCP over stdin/stdout until stdin closes, through the SDK's `serveStdio`:
 * the connection's opening picks the era (server/discover: 2026-07-28; initialize:
 * 2025) and one server from the factory serves the connection.
 */
export async function serveStdio(deps: () => McpServerDeps): Promise<{ closed: Promise<void> }> {
  const { serveStdio: serve } = await import('@modelcontextprotocol/server/stdio');
  const closed = new Promise<void>((resolve) => {
    process.stdin.once('end', () => resolve());
    process.stdin.once('close', () => resolve());
  });
  serve(() => createMcpServer(deps()));
  return { closed };
}
