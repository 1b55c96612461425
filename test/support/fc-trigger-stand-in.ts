/**
 * A stand-in for FC's gateway in front of an HTTP trigger with `authType: function`,
 * for tests only: it verifies each request's ACS3-HMAC-SHA256 signature the way FC
 * documents for HTTP triggers, answers 401/403 as FC does when it fails, and
 * otherwise proxies the request (streaming both ways) to the function's server.
 */
import { createServer, type IncomingMessage, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, verifyAcs3Signature, type StandInCredentials } from './fc-openapi-stand-in.ts';

export interface FcTriggerStandIn {
  url: string;
  /** Requests refused, with FC's error code. */
  refused: { method: string; path: string; code: string }[];
  /** Requests let through. */
  passed: number;
  close(): Promise<void>;
}

export interface FcTriggerStandInOptions {
  credentials: StandInCredentials;
  /**
   * The function's server; or, as FC routes a session to its own instance, the instance that
   * holds the session a request names (its affinity header's value).
   */
  upstream: string | { sessionHeader: string; instanceOf(session: string | undefined): string };
}

export async function startFcTriggerStandIn(options: FcTriggerStandInOptions): Promise<FcTriggerStandIn> {
  const route = options.upstream;
  const upstreamOf = (req: IncomingMessage) => {
    if (typeof route === 'string') return new URL(route);
    const session = req.headers[route.sessionHeader.toLowerCase()];
    return new URL(route.instanceOf(Array.isArray(session) ? session[0] : session));
  };
  const state: FcTriggerStandIn = { url: '', refused: [], passed: 0, close: async () => {} };
  const server = createServer((req, res) => {
    const [rawPath = '', rawQuery = ''] = (req.url ?? '').split('?');
    try {
      // The trigger's signature has an empty payload line, so the body can stream through unread.
      verifyAcs3Signature(req, { rawPath, rawQuery, body: Buffer.alloc(0) }, options.credentials, 'trigger');
    } catch (error) {
      const e = error instanceof ApiError ? error : new ApiError(500, 'InternalError', String(error));
      state.refused.push({ method: req.method ?? '', path: rawPath, code: e.code });
      req.resume();
      res.writeHead(e.status, { 'content-type': 'application/json' }).end(JSON.stringify({ Code: e.code, Message: e.message }));
      return;
    }
    state.passed++;
    const upstream = upstreamOf(req);
    const headers = { ...req.headers, host: upstream.host };
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`stand-in gateway: upstream failed: ${error.message}`);
    });
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    });
  return state;
}
