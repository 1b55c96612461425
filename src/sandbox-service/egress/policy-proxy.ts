/**
 * The policy proxy: the only way out of a jail whose context may reach hosts. An HTTP proxy
 * (CONNECT by host name for https, absolute-URI forwarding for http; no TLS interception)
 * served to each jail on a unix socket of its own (listenUnix), which tells the proxy whose
 * policy applies: the route the socket was opened for (a context's ContextEgress).
 *
 * For every request, in this order: the route's policy (a denied host costs no DNS query),
 * then the name is resolved here, outside the jail, then every address it has is checked by
 * the guard write_file's URL fetch uses (src/shared/public-address.ts): loopback, private,
 * link-local and metadata addresses are refused unless the operator named the host in
 * SANDBOX_EGRESS_PRIVATE_HOSTS; the connection goes to an address that was checked (no
 * second lookup to rebind). A refusal is a 403 at once whose body says it is the sandbox's
 * network policy and names the host.
 *
 * Secrets (SANDBOX_EGRESS_HEADERS): for a host that has headers, a plain-http request from
 * the code is made by the proxy over TLS (to the port the code named, else 443) with the
 * headers added, so the code never holds them; they go to that host only.
 */
import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import { chmodSync, chownSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request as httpRequest,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer, isIP, type LookupFunction, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { addressRefusal } from '../../shared/public-address.ts';
import { hostKeyOf, matchesAny } from './host-patterns.ts';

/** Whose policy a connection to the proxy is under. */
export interface ProxyRoute {
  /** Why the route may not reach `host` (normalised), as the denial says it; undefined when it may. */
  refusal(host: string): string | undefined;
  /** A tunnel (or forwarded request) to `host` is open; `close` ends it should the policy narrow. */
  opened(host: string, close: () => void): () => void;
}

export interface PolicyProxyOptions {
  /** Host patterns whose loopback or private addresses may be reached (SANDBOX_EGRESS_PRIVATE_HOSTS). */
  privateHosts: readonly string[];
  /** Normalised host → headers the proxy adds to every request for it, over TLS (SANDBOX_EGRESS_HEADERS). */
  headers: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** All addresses of a name; default dns.lookup. Tests count or fake lookups with it. */
  resolve?: (host: string) => Promise<readonly LookupAddress[]>;
  /** How long a connection to an upstream may take; default 10 s. */
  connectTimeoutMs?: number;
  /** Connections one jail may hold open to the proxy at once (each holds at most one upstream); default MAX_JAIL_CONNECTIONS. */
  maxJailConnections?: number;
}

/**
 * A jail's connections to the proxy at once: each costs the sandbox process two sockets (and the
 * upstream's), so one context cannot take the file descriptors every other context needs.
 */
export const MAX_JAIL_CONNECTIONS = 256;

/** The first words of every refusal's body: code and agents can tell a policy's denial from a server's 403. */
export const DENIAL_PREFIX = 'sandbox network policy:';

const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class PolicyProxy {
  readonly #options: PolicyProxyOptions;
  readonly #resolve: (host: string) => Promise<readonly LookupAddress[]>;
  readonly #http = createHttpServer();
  readonly #routes = new WeakMap<Socket, ProxyRoute>();
  readonly #tokens = new Map<string, ProxyRoute>();
  readonly #listeners = new Set<Server>();
  #loopbackPort: number | undefined;

  constructor(options: PolicyProxyOptions) {
    this.#options = options;
    this.#resolve = options.resolve ?? ((host) => dnsLookup(host, { all: true }));
    // Downloads take as long as they take; the jail's own limits bound the code.
    this.#http.requestTimeout = 0;
    this.#http.timeout = 0;
    // A failure of ours ends that one connection, never the sandbox (an unhandled rejection would).
    this.#http.on('request', (req, res) =>
      this.#forward(req, res).catch((error: Error) => {
        if (res.headersSent) res.destroy();
        else answer(res, 502, `${DENIAL_PREFIX} the proxy could not forward this request: ${error.message}`);
      }),
    );
    this.#http.on('connect', (req, socket, head) => this.#tunnel(req, socket, head).catch(() => socket.destroy()));
    this.#http.on('clientError', (_error, socket) => socket.destroy());
  }

  /**
   * Serves `route` on a unix socket at `path` (a host path in a directory of the jail's run
   * directory), connectable by `uid` only. Synchronous: the socket exists on return, so a
   * jail can bind it at once.
   */
  listenUnix(path: string, route: ProxyRoute, uid?: number): { close(): void } {
    const server = createServer((socket) => {
      this.#routes.set(socket, route);
      this.#http.emit('connection', socket);
    });
    server.on('error', (error) => console.warn(`sandbox: the egress socket ${path} failed: ${error.message}`));
    server.maxConnections = this.#options.maxJailConnections ?? MAX_JAIL_CONNECTIONS;
    server.listen(path);
    if (uid !== undefined) chownSync(path, uid, uid);
    chmodSync(path, 0o600);
    this.#listeners.add(server);
    return {
      close: () => {
        this.#listeners.delete(server);
        server.close();
        rmSync(path, { force: true });
      },
    };
  }

  /**
   * Without the jail (advisory): one loopback TCP listener for every route, each route named
   * by a token in the proxy URL's user part (Proxy-Authorization). Reachable by anything on
   * the host: it is advice, not a wall.
   */
  async listenLoopback(): Promise<number> {
    if (this.#loopbackPort !== undefined) return this.#loopbackPort;
    const server = createServer((socket) => this.#http.emit('connection', socket));
    server.maxConnections = 4 * (this.#options.maxJailConnections ?? MAX_JAIL_CONNECTIONS);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, resolve);
    });
    this.#listeners.add(server);
    this.#loopbackPort = (server.address() as { port: number }).port;
    return this.#loopbackPort;
  }

  /** The loopback listener's URL for `route` (listenLoopback first), and the function that forgets the token. */
  loopbackUrl(route: ProxyRoute, token: string): { url: string; release(): void } | undefined {
    if (this.#loopbackPort === undefined) return undefined;
    this.#tokens.set(token, route);
    return { url: `http://${token}:x@127.0.0.1:${this.#loopbackPort}`, release: () => this.#tokens.delete(token) };
  }

  close(): void {
    for (const server of this.#listeners) server.close();
    this.#listeners.clear();
    this.#http.closeAllConnections();
  }

  #routeOf(req: IncomingMessage): ProxyRoute | undefined {
    const bySocket = this.#routes.get(req.socket);
    if (bySocket) return bySocket;
    const auth = req.headers['proxy-authorization'];
    const match = typeof auth === 'string' ? /^Basic\s+(\S+)$/i.exec(auth) : null;
    if (!match) return undefined;
    const user = Buffer.from(match[1]!, 'base64').toString('utf8').split(':')[0] ?? '';
    return this.#tokens.get(user);
  }

  /** The policy, then the name's addresses, each checked; the addresses to connect to, IPv4 first. */
  async #check(route: ProxyRoute | undefined, rawHost: string): Promise<{ host: string; addresses: LookupAddress[] }> {
    const host = hostKeyOf(rawHost);
    if (!host) throw new Refusal(400, `${DENIAL_PREFIX} "${rawHost}" is not a host name`);
    if (!route) throw new Refusal(407, `${DENIAL_PREFIX} this connection belongs to no context`);
    const refusal = route.refusal(host);
    if (refusal) throw new Refusal(403, `${DENIAL_PREFIX} ${host} is not allowed for this context: ${refusal}`);
    let addresses: readonly LookupAddress[];
    if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
    else {
      try {
        addresses = await this.#resolve(host);
      } catch (error) {
        throw new Refusal(
          502,
          `${DENIAL_PREFIX} ${host} could not be resolved (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        );
      }
    }
    if (addresses.length === 0) throw new Refusal(502, `${DENIAL_PREFIX} ${host} has no address`);
    if (!matchesAny(this.#options.privateHosts, host)) {
      for (const { address } of addresses) {
        const why = addressRefusal(address);
        if (why) {
          const subject = address === host ? `${host} is ${why}` : `${host} resolves to ${address}, ${why}`;
          throw new Refusal(
            403,
            `${DENIAL_PREFIX} ${subject}; only public addresses are reached unless the operator names the host in SANDBOX_EGRESS_PRIVATE_HOSTS`,
          );
        }
      }
    }
    return { host, addresses: [...addresses].sort((a, b) => a.family - b.family) };
  }

  async #forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return answer(
        res,
        400,
        `${DENIAL_PREFIX} the proxy takes absolute http:// URLs (or CONNECT for https), got "${(req.url ?? '').slice(0, 200)}"`,
      );
    }
    if (url.protocol !== 'http:') return answer(res, 400, `${DENIAL_PREFIX} the proxy forwards http:// URLs only; use CONNECT for https`);
    const route = this.#routeOf(req);
    let checked: { host: string; addresses: LookupAddress[] };
    try {
      checked = await this.#check(route, url.hostname);
    } catch (error) {
      if (error instanceof Refusal) return answer(res, error.status, error.message);
      throw error;
    }
    const inject = this.#options.headers[checked.host];
    const tls = inject !== undefined;
    const port = url.port !== '' ? Number(url.port) : tls ? 443 : 80;
    const headers = withoutHopByHop(req.headers);
    // The Host the policy checked, never the code's own: another Host on an allowed server (a CDN's,
    // a shared host's) would reach a site the policy never named.
    headers.host = url.port !== '' && Number(url.port) !== (tls ? 443 : 80) ? `${url.hostname}:${url.port}` : url.hostname;
    if (inject) Object.assign(headers, lowerKeys(inject));
    const [first] = checked.addresses;
    const lookup: LookupFunction = (_name, options, callback) => {
      if (options.all) callback(null, [first!]);
      else callback(null, first!.address, first!.family);
    };
    const upstream = (tls ? httpsRequest : httpRequest)({
      host: checked.host,
      port,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers,
      lookup,
      agent: false,
      timeout: this.#options.connectTimeoutMs ?? 10_000,
      ...(tls && isIP(checked.host) === 0 ? { servername: checked.host } : {}),
    });
    const forget = route!.opened(checked.host, () => {
      upstream.destroy();
      res.destroy();
    });
    res.once('close', forget);
    upstream.once('timeout', () => upstream.destroy(new Error(`no connection to ${checked.host}:${port} within the connect timeout`)));
    upstream.once('response', (response) => {
      upstream.setTimeout(0);
      res.writeHead(response.statusCode ?? 502, response.statusMessage, withoutHopByHop(response.headers));
      response.pipe(res);
      response.once('error', () => res.destroy());
    });
    upstream.once('error', (error) => {
      if (res.headersSent) res.destroy();
      else answer(res, 502, `${DENIAL_PREFIX} ${checked.host}:${port} did not answer: ${error.message}`);
    });
    req.pipe(upstream);
  }

  async #tunnel(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    client.on('error', () => {});
    const target = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(req.url ?? '');
    if (!target || Number(target[2]) > 65535) {
      return refuseTunnel(client, 400, `${DENIAL_PREFIX} CONNECT takes host:port, got "${(req.url ?? '').slice(0, 200)}"`);
    }
    const port = Number(target[2]);
    let checked: { host: string; addresses: LookupAddress[] };
    try {
      checked = await this.#check(this.#routeOf(req), target[1]!);
    } catch (error) {
      if (error instanceof Refusal) return refuseTunnel(client, error.status, error.message);
      throw error;
    }
    const first = checked.addresses[0]!;
    const upstream = connect({ host: first.address, port, timeout: this.#options.connectTimeoutMs ?? 10_000 });
    const forget = this.#routeOf(req)!.opened(checked.host, () => {
      upstream.destroy();
      client.destroy();
    });
    const end = () => {
      forget();
      upstream.destroy();
      client.destroy();
    };
    upstream.once('timeout', () => {
      if (upstream.connecting) {
        upstream.destroy();
        refuseTunnel(client, 504, `${DENIAL_PREFIX} no connection to ${checked.host}:${port} within the connect timeout`);
        forget();
      }
    });
    upstream.once('error', (error) => {
      if (upstream.connecting || !upstream.remoteAddress) {
        refuseTunnel(client, 502, `${DENIAL_PREFIX} ${checked.host}:${port} did not answer: ${error.message}`);
        forget();
      } else end();
    });
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
      client.once('close', end);
      upstream.once('close', end);
    });
  }
}

function answer(res: ServerResponse, status: number, message: string): void {
  const body = `${message}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(status === 407 ? { 'proxy-authenticate': 'Basic realm="sandbox"' } : {}),
  });
  res.end(body);
}

function refuseTunnel(client: Duplex, status: number, message: string): void {
  const body = `${message}\n`;
  const reason =
    { 400: 'Bad Request', 403: 'Forbidden', 407: 'Proxy Authentication Required', 502: 'Bad Gateway', 504: 'Gateway Timeout' }[status] ??
    'Error';
  client.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function withoutHopByHop(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase()),
  );
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    kept[name] = value;
  }
  return kept;
}

function lowerKeys(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
