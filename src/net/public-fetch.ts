/**
 * Fetches a URL an agent names (write_file's `url`) on the public internet only.
 * The MCP function runs inside a cloud network: a URL to a loopback, private,
 * link-local or metadata address (Alibaba's 100.100.100.200) would read what only
 * the function may read. So every address a name resolves to is checked, and the
 * connection goes to the address that was checked (the check is the socket's DNS
 * lookup, so a name cannot answer differently between check and connect). Redirects
 * are followed by hand, each hop checked the same way. An operator's allow-list
 * names hosts that skip the address check (MCP_FETCH_ALLOW_HOSTS).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';

export interface PublicFetchOptions {
  maxBytes: number;
  /** Hosts (exact, case-insensitive; IP literals too) that skip the address check. */
  allowHosts?: readonly string[];
  signal?: AbortSignal;
  /** Default 5. */
  maxRedirects?: number;
  /** For the whole fetch, body included; default 120 s. */
  timeoutMs?: number;
}

export interface FetchedBody {
  /** The final URL, after redirects. */
  url: string;
  contentType?: string;
  contentLength?: number;
  /** Errors with PublicFetchError('too_large') once more than maxBytes arrive. */
  body: ReadableStream<Uint8Array>;
}

export type PublicFetchErrorKind = 'bad_url' | 'forbidden_address' | 'too_large' | 'http' | 'network' | 'redirects' | 'timeout';

export class PublicFetchError extends Error {
  override name = 'PublicFetchError';
  constructor(
    readonly kind: PublicFetchErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export const ALLOW_HOSTS_VARIABLE = 'MCP_FETCH_ALLOW_HOSTS';

/** Ranges no fetch may reach, with the words a refusal uses. IPv4-mapped IPv6 is checked as IPv4. */
const FORBIDDEN: Array<[string, number, 'ipv4' | 'ipv6', string]> = [
  ['0.0.0.0', 8, 'ipv4', 'a "this network" address'],
  ['10.0.0.0', 8, 'ipv4', 'a private address'],
  ['100.64.0.0', 10, 'ipv4', 'a carrier-grade NAT address (Alibaba Cloud metadata is at 100.100.100.200)'],
  ['127.0.0.0', 8, 'ipv4', 'a loopback address'],
  ['169.254.0.0', 16, 'ipv4', 'a link-local address (cloud metadata services live there)'],
  ['172.16.0.0', 12, 'ipv4', 'a private address'],
  ['192.0.0.0', 24, 'ipv4', 'an IETF protocol address'],
  ['192.0.2.0', 24, 'ipv4', 'a documentation address'],
  ['192.88.99.0', 24, 'ipv4', 'a relay address'],
  ['192.168.0.0', 16, 'ipv4', 'a private address'],
  ['198.18.0.0', 15, 'ipv4', 'a benchmarking address'],
  ['198.51.100.0', 24, 'ipv4', 'a documentation address'],
  ['203.0.113.0', 24, 'ipv4', 'a documentation address'],
  ['224.0.0.0', 4, 'ipv4', 'a multicast address'],
  ['240.0.0.0', 4, 'ipv4', 'a reserved address'],
  ['::', 128, 'ipv6', 'the unspecified address'],
  ['::1', 128, 'ipv6', 'a loopback address'],
  ['64:ff9b::', 96, 'ipv6', 'a NAT64 address'],
  ['64:ff9b:1::', 48, 'ipv6', 'a NAT64 address'],
  ['100::', 64, 'ipv6', 'a discard address'],
  ['2001::', 23, 'ipv6', 'an IETF protocol address'],
  ['2001:db8::', 32, 'ipv6', 'a documentation address'],
  ['2002::', 16, 'ipv6', 'a 6to4 address'],
  ['fc00::', 7, 'ipv6', 'a private (unique local) address'],
  ['fe80::', 10, 'ipv6', 'a link-local address'],
  ['ff00::', 8, 'ipv6', 'a multicast address'],
];

const FORBIDDEN_RANGES = FORBIDDEN.map(([network, prefix, type, reason]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, type);
  return { list, type, reason };
});

function forbiddenReason(address: string): string | undefined {
  let ip = address;
  let family = isIP(ip);
  // ::ffff:a.b.c.d and ::a.b.c.d reach the IPv4 address: check that one.
  const embedded = /^::(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (embedded) {
    ip = embedded[1]!;
    family = 4;
  } else if (family === 6 && /^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/i.test(ip)) {
    const [hi, lo] = ip
      .slice(7)
      .split(':')
      .map((part) => Number.parseInt(part, 16));
    ip = [hi! >> 8, hi! & 255, lo! >> 8, lo! & 255].join('.');
    family = 4;
  }
  if (family === 0) return 'not an IP address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  return FORBIDDEN_RANGES.find((range) => range.type === type && range.list.check(ip, type))?.reason;
}

/** Lower case, no brackets around IPv6, no trailing dot: how allow-list entries and URLs are compared. */
export function normalizeHost(host: string): string {
  return host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/** A socket lookup that resolves every address and refuses the connection if any is forbidden. */
function checkedLookup(host: string): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const all = addresses as LookupAddress[];
      for (const { address } of all) {
        const reason = forbiddenReason(address);
        if (reason) return callback(forbidden(host, address, reason), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, all);
      const first = all[0];
      if (!first) return callback(new PublicFetchError('network', `${host} has no address`), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

function forbidden(host: string, address: string, reason: string): PublicFetchError {
  const shown = host === address ? host : `${host} (${address})`;
  return new PublicFetchError(
    'forbidden_address',
    `${shown} is ${reason}: only public addresses can be fetched. An operator can allow the host with ${ALLOW_HOSTS_VARIABLE}.`,
  );
}

function parseTarget(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PublicFetchError('bad_url', `"${raw.slice(0, 200)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PublicFetchError('bad_url', `${url.protocol} URLs cannot be fetched: use http or https`);
  }
  if (url.username || url.password) throw new PublicFetchError('bad_url', 'URLs with a user name or password are refused');
  return url;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export async function fetchPublicUrl(raw: string, options: PublicFetchOptions): Promise<FetchedBody> {
  const allow = new Set((options.allowHosts ?? []).map(normalizeHost));
  const deadline = AbortSignal.timeout(options.timeoutMs ?? 120_000);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  let url = parseTarget(raw);
  for (let hop = 0; ; hop++) {
    const response = await get(url, allow, signal);
    const status = response.statusCode ?? 0;
    if (REDIRECTS.has(status)) {
      response.resume();
      const location = response.headers.location;
      if (!location) throw new PublicFetchError('http', `${url.host} answered ${status} without a Location`, status);
      if (hop >= (options.maxRedirects ?? 5)) {
        throw new PublicFetchError('redirects', `more than ${options.maxRedirects ?? 5} redirects starting at ${raw}`);
      }
      url = parseTarget(new URL(location, url).href);
      continue;
    }
    if (status < 200 || status > 299) {
      response.resume();
      throw new PublicFetchError('http', `${url.host} answered HTTP ${status} for ${url.pathname}`, status);
    }
    const length = Number(response.headers['content-length']);
    const contentLength = Number.isFinite(length) && response.headers['content-length'] !== undefined ? length : undefined;
    if (contentLength !== undefined && contentLength > options.maxBytes) {
      response.destroy();
      throw new PublicFetchError('too_large', `${url.href} is ${contentLength} bytes, over the limit of ${options.maxBytes}`);
    }
    return {
      url: url.href,
      contentType: response.headers['content-type'],
      contentLength,
      body: capped(response, options.maxBytes, url.href),
    };
  }
}

function get(url: URL, allow: Set<string>, signal: AbortSignal): Promise<IncomingMessage> {
  const host = normalizeHost(url.hostname);
  if (!allow.has(host) && isIP(host)) {
    const reason = forbiddenReason(host);
    if (reason) return Promise.reject(forbidden(host, host, reason));
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = request(url, {
      method: 'GET',
      signal,
      headers: { 'user-agent': 'fc-code-interpreter-mcp (write_file)', accept: '*/*' },
      ...(allow.has(host) ? {} : { lookup: checkedLookup(host) }),
    });
    outgoing.once('response', resolve);
    outgoing.once('error', (error) => reject(mapError(error, url, signal)));
    outgoing.end();
  });
}

function mapError(error: Error, url: URL, signal: AbortSignal): Error {
  if (error instanceof PublicFetchError) return error;
  if (signal.aborted) {
    return signal.reason instanceof DOMException && signal.reason.name === 'TimeoutError'
      ? new PublicFetchError('timeout', `fetching ${url.host} took too long`)
      : new PublicFetchError('network', `fetching ${url.host} was cancelled`);
  }
  const code = (error as NodeJS.ErrnoException).code;
  return new PublicFetchError('network', `cannot fetch ${url.host}: ${code ?? error.message}`);
}

/** The response as a web stream that errors once more than maxBytes have come. */
function capped(response: IncomingMessage, maxBytes: number, href: string): ReadableStream<Uint8Array> {
  let size = 0;
  const source = Readable.toWeb(response) as ReadableStream<Uint8Array>;
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        size += chunk.byteLength;
        if (size > maxBytes) {
          response.destroy();
          controller.error(new PublicFetchError('too_large', `${href} sent more than the limit of ${maxBytes} bytes`));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
}
