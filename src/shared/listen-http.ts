/**
 * Putting an app on an HTTP listener (Node), with a close that drains: both programs
 * serve their Hono app through it. Nothing here reads the environment.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Hono } from 'hono';

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
