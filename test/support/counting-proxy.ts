/**
 * A loopback HTTP proxy in front of a sandbox that counts what goes through it: requests by
 * path, and the most in flight at once. Tests put it between an MCP server and its sandbox to
 * see how many sandbox calls one MCP request costs. Not a test file itself.
 */
import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingProxy {
  /** http://127.0.0.1:port, to give the MCP server as SANDBOX_URL. */
  url: string;
  /** Requests by path (no query) since the last reset. */
  counts(): Map<string, number>;
  /** Requests to `path` since the last reset. */
  count(path: string): number;
  /** The most requests in flight at once since the last reset. */
  peakInFlight(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  let counts = new Map<string, number>();
  let inFlight = 0;
  let peak = 0;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    inFlight++;
    peak = Math.max(peak, inFlight);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight--;
    };
    res.once('close', finish);
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.once('error', () => res.destroy());
    req.pipe(forward);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => counts,
    count: (path) => counts.get(path) ?? 0,
    peakInFlight: () => peak,
    reset() {
      counts = new Map();
      peak = inFlight;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
