/**
 * Putting an app on an HTTP listener (Node), with a close that drains: both programs
 * serve their Hono app through it. Nothing here reads the environment.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from 'node:http';
import type { Hono } from 'hono';
import { capConnections } from './connection-cap.ts';

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

/** What one client may hold of the listener; each unset one keeps Node's default. */
export interface ConnectionBounds {
  /**
   * The time a request's headers and body may take to arrive; past it Node answers 408 and
   * closes the connection (Node's default: 300 s, checked every 30 s). Headers alone get at
   * most HEADERS_TIMEOUT_MS of it. A response may stream for longer: only arriving counts.
   */
  requestTimeoutMs?: number;
  /** Open connections at once; past it the oldest idle one is closed for the newcomer (connection-cap.ts). */
  maxConnections?: number;
}

/** The most a request's headers may take to arrive, when a request timeout is set. */
export const HEADERS_TIMEOUT_MS = 15_000;

/** Serves the app on host:port (0 = any free port) with @hono/node-server; rejects if it cannot listen. */
export function listenHttp(
  // biome-ignore lint/suspicious/noExplicitAny: serves any app, whatever its bindings and variables
  app: Hono<any>,
  host: string,
  port: number,
  bounds: ConnectionBounds = {},
): Promise<HttpListener> {
  const { requestTimeoutMs, maxConnections } = bounds;
  const serverOptions =
    requestTimeoutMs === undefined
      ? {}
      : {
          requestTimeout: requestTimeoutMs,
          headersTimeout: Math.min(requestTimeoutMs, HEADERS_TIMEOUT_MS),
          // How often Node looks for requests past their timeout (default 30 s, which would add up to 30 s to it).
          connectionsCheckingInterval: Math.min(1_000, requestTimeoutMs),
        };
  return new Promise((resolve, reject) => {
    const server: ServerType = serve({ fetch: app.fetch, hostname: host, port, serverOptions }, (info: AddressInfo) => {
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
    if (maxConnections) capConnections(server as Server, maxConnections);
    server.once('error', reject);
  });
}
