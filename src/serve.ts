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

// eslint-disable-next-line @typescript-eslint/no-explicit-any
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

/** Serves one MCP server over stdin/stdout until stdin closes. */
export async function serveStdio(deps: McpServerDeps): Promise<{ closed: Promise<void> }> {
  const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
  const server = createMcpServer(deps);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
  });
  await server.connect(transport);
  return { closed };
}
