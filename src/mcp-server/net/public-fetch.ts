/**
 * Fetches a URL that an agent handed to `write_file`, from the MCP function's own
 * network (the sandbox has none), without letting the agent reach what only the
 * function can reach: loopback, private networks, link-local and the cloud's
 * metadata services (169.254.169.254; Alibaba Cloud's 100.100.100.200; Azure's 168.63.129.16).
 *
 * The check happens after DNS, on every address a name resolves to, inside the
 * `lookup` that node:http hands the socket: the connection goes to an address that
 * was checked, so a name that answers "public" to a first query and "private" to a
 * second (DNS rebinding) gains nothing. IP literals never reach `lookup` and are
 * checked before any socket opens. Redirects are followed here, one hop at a time,
 * each checked the same way. Hand-written on node:http because fetch() exposes no
 * lookup hook and request-filtering-agent's allow-list is by IP, not by host name.
 *
 * A slow server cannot hold a fetch for long: the whole fetch has a deadline
 * (MCP_FETCH_TIMEOUT_SECONDS), and after a short grace the body must keep a minimum
 * average rate (MCP_FETCH_MIN_BYTES_PER_SECOND), besides the per-hop silence timeout.
 */
import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { ReadableStream } from 'node:stream/web';
import { addressRefusal, canonicalHost, hostKey } from '../../shared/public-address.ts';
import { Refusal } from '../refusal.ts';
import { DEFAULT_DEADLINE_MS, DEFAULT_MIN_BYTES_PER_SECOND } from './public-fetch-defaults.ts';

/** The env var an operator sets to let `write_file` fetch from named hosts anyway. */
export const ALLOW_HOSTS_VARIABLE = 'MCP_FETCH_ALLOW_HOSTS';

export interface PublicFetchOptions {
  /** More bytes than this and the fetch fails with `too_large`. */
  maxBytes: number;
  /** Hosts (names or IP literals, exact and case-insensitive) whose addresses are not checked. */
  allowHosts?: readonly string[];
  /** Aborting rejects the fetch, or errors the body, with the signal's reason. */
  signal?: AbortSignal;
  /** Redirects followed before `redirects`; default 5. */
  maxRedirects?: number;
  /** Per hop, the time until response headers; then the longest silence between body chunks. Default 30 s. */
  timeoutMs?: number;
  /** The whole fetch, redirects and body included, must be done within this; default 120 s. */
  deadlineMs?: number;
  /**
   * From RATE_GRACE_MS into the body on, the body must average at least this many bytes a
   * second since it began, or the fetch fails with `too_slow`; 0 = no minimum. Default 16 KiB/s.
   */
  minBytesPerSecond?: number;
  /** Resolves a host name to all its addresses; default dns.lookup. For tests of what names resolve to. */
  resolve?: (hostname: string) => Promise<readonly LookupAddress[]>;
}

export interface FetchedBody {
  /** The final URL, after redirects. */
  url: string;
  contentType?: string;
  contentLength?: number;
  /** Errors with PublicFetchError('too_large') once more than maxBytes arrive. */
  body: ReadableStream<Uint8Array>;
}

/** Why a fetch failed, finer than the tool failure's kind (too_large is `file_too_large`, the rest `fetch_failed`). */
export type PublicFetchReason = 'bad_url' | 'forbidden_address' | 'too_large' | 'http' | 'network' | 'redirects' | 'timeout' | 'too_slow';

/** The env vars an operator sets the deadline and the minimum rate with (named in the errors). */
export const DEADLINE_VARIABLE = 'MCP_FETCH_TIMEOUT_SECONDS';
export const MIN_RATE_VARIABLE = 'MCP_FETCH_MIN_BYTES_PER_SECOND';
/** How long a body may take to get up to speed before its average rate counts. */
export const RATE_GRACE_MS = 10_000;

/**
 * A fetch that failed, as the refusal write_file answers with: the message names the host and
 * what to do. The status the URL's server answered stays here, not in the refusal's details
 * (whose status is the sandbox's or FC's).
 */
export class PublicFetchError extends Refusal {
  override name = 'PublicFetchError';
  constructor(
    readonly reason: PublicFetchReason,
    message: string,
    readonly httpStatus?: number,
    options?: { cause?: unknown },
  ) {
    super(reason === 'too_large' ? 'file_too_large' : 'fetch_failed', message, {}, options);
  }
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DEFAULT_MAX_REDIRECTS = 5;
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The operator's allow-list from its env value: comma-separated host names or IP
 * literals, e.g. "data.example.com,10.0.0.5,[fd00::5]". Throws on an entry that is
 * no host (a URL, a port), so a typo fails at start-up, not on the first fetch.
 */
export function parseAllowHosts(value: string | undefined): string[] {
  const hosts: string[] = [];
  for (const entry of (value ?? '').split(',')) {
    if (entry.trim() === '') continue;
    const host = canonicalHost(entry);
    if (!host) throw new Error(`${ALLOW_HOSTS_VARIABLE}: "${entry.trim()}" is not a host name or IP address (no scheme, port or path)`);
    if (!hosts.includes(host)) hosts.push(host);
  }
  return hosts;
}

/** Where a URL points, for messages: the host, and the hop it was reached by. */
interface Target {
  url: URL;
  host: string;
  via?: string;
}

function describe(target: Target): string {
  return target.via ? `${target.host} (reached by a redirect from ${target.via})` : target.host;
}

function checkUrl(raw: string, via?: string): Target {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PublicFetchError('bad_url', `"${raw.slice(0, 200)}" is not a URL; give an absolute http:// or https:// URL`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const where = via ? ` (a redirect from ${via})` : '';
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PublicFetchError(
      'bad_url',
      `the URL${host ? ` for ${host}` : ''}${where} uses the scheme ${url.protocol}, which cannot be fetched; give an http or https URL`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new PublicFetchError('bad_url', `the URL for ${host}${where} carries a user name or password; give a URL without credentials`);
  }
  return via === undefined ? { url, host } : { url, host, via };
}

function forbidden(target: Target, address: string, why: string): PublicFetchError {
  const subject = address === target.host ? `${describe(target)} is ${why}` : `${describe(target)} resolves to ${address}, ${why}`;
  return new PublicFetchError(
    'forbidden_address',
    `${subject}; only public addresses can be fetched. An operator can allow the host with ${ALLOW_HOSTS_VARIABLE}=${target.host}`,
  );
}

/** A node:http lookup that resolves, refuses the whole name if any address is not public, and hands back only checked addresses. */
function checkedLookup(target: Target, resolve: (hostname: string) => Promise<readonly LookupAddress[]>): LookupFunction {
  return (hostname, options, callback) => {
    const answer = (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
      // Out of the promise chain, so an exception in node's callback is not swallowed as a rejection.
      process.nextTick(() => {
        if (error) callback(error, '', 0);
        else if (options.all) callback(null, addresses);
        else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 0);
      });
    };
    resolve(hostname).then(
      (all) => {
        for (const { address } of all) {
          const why = addressRefusal(address);
          if (why) return answer(forbidden(target, address, why), []);
        }
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const usable = all.filter((a) => !family || a.family === family);
        if (usable.length === 0) {
          return answer(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
        }
        answer(null, usable);
      },
      (error: NodeJS.ErrnoException) => answer(error, []),
    );
  };
}

const defaultResolve = (hostname: string) => dnsLookup(hostname, { all: true });

function networkError(target: Target, error: unknown): PublicFetchError {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NODATA') {
    return new PublicFetchError('network', `the host name ${describe(target)} was not found (${code}); check the URL`, undefined, {
      cause: error,
    });
  }
  const detail = typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
  return new PublicFetchError(
    'network',
    `could not fetch from ${describe(target)} (${detail}); check the URL and that the server is up`,
    undefined,
    {
      cause: error,
    },
  );
}

function timeoutError(target: Target, timeoutMs: number, what: string): PublicFetchError {
  return new PublicFetchError('timeout', `${describe(target)} ${what} within ${timeoutMs / 1000} s; try again, or give a faster source`);
}

interface HopOptions {
  allowed: ReadonlySet<string>;
  resolve: (hostname: string) => Promise<readonly LookupAddress[]>;
  timeoutMs: number;
  /** The caller's signal joined with the deadline's. */
  signal: AbortSignal | undefined;
  minBytesPerSecond: number;
  /** Stops the deadline's clock: the fetch is over, one way or another. */
  settled: () => void;
}

/** One GET, up to the response headers; the response's body is left unread. */
function requestHeaders(target: Target, hop: HopOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const allowed = hop.allowed.has(hostKey(target.host));
    if (!allowed && isIP(target.host)) {
      const why = addressRefusal(target.host);
      if (why) return reject(forbidden(target, target.host, why));
    }
    if (hop.signal?.aborted) return reject(hop.signal.reason);
    const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target.url, {
      // A fresh agent: no pooled socket from an earlier fetch stands in for this one's check.
      agent: false,
      headers: { accept: '*/*', 'accept-encoding': 'identity', 'user-agent': 'fc-code-interpreter-mcp-server' },
      ...(allowed ? {} : { lookup: checkedLookup(target, hop.resolve) }),
    });
    const timer = setTimeout(() => req.destroy(timeoutError(target, hop.timeoutMs, 'did not answer')), hop.timeoutMs);
    const onAbort = () => req.destroy(hop.signal?.reason);
    hop.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      hop.signal?.removeEventListener('abort', onAbort);
    };
    req.on('response', (response) => {
      done();
      resolve(response);
    });
    req.on('error', (error) => {
      done();
      if (error instanceof PublicFetchError || (hop.signal?.aborted && error === hop.signal.reason)) reject(error);
      else reject(networkError(target, error));
    });
    req.end();
  });
}

function tooLarge(target: Target, size: string, maxBytes: number): PublicFetchError {
  return new PublicFetchError(
    'too_large',
    `the file at ${describe(target)} is ${size}, over the limit of ${maxBytes} bytes; give a smaller file or split it`,
  );
}

/**
 * The response body as a web stream that counts bytes, follows the caller's signal
 * and times out when the server falls silent. The silence clock runs only while the
 * stream waits on the server: a reader that is slow (backpressure pauses the socket)
 * is not the server's fault.
 */
function bodyStream(response: IncomingMessage, target: Target, maxBytes: number, hop: HopOptions): ReadableStream<Uint8Array> {
  let received = 0;
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  let fail: (error: unknown) => void = () => {};
  const onAbort = () => fail(hop.signal?.reason);
  const finish = () => {
    finished = true;
    clearTimeout(timer);
    hop.signal?.removeEventListener('abort', onAbort);
    hop.settled();
  };
  const started = performance.now();
  const tooSlow = () => {
    const seconds = (performance.now() - started) / 1000;
    if (hop.minBytesPerSecond === 0 || seconds * 1000 < RATE_GRACE_MS || received >= hop.minBytesPerSecond * seconds) return undefined;
    return new PublicFetchError(
      'too_slow',
      `${describe(target)} sent ${received} bytes in ${Math.round(seconds)} s, slower than the minimum of ${hop.minBytesPerSecond} bytes a second (${MIN_RATE_VARIABLE}); give a faster source`,
    );
  };
  const waitForServer = () => {
    clearTimeout(timer);
    timer = setTimeout(() => fail(timeoutError(target, hop.timeoutMs, 'sent no data')), hop.timeoutMs);
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      fail = (error) => {
        if (finished) return;
        finish();
        response.destroy();
        controller.error(error);
      };
      if (hop.signal?.aborted) return fail(hop.signal.reason);
      hop.signal?.addEventListener('abort', onAbort, { once: true });
      response.pause();
      response.on('data', (chunk: Buffer) => {
        if (finished) return;
        received += chunk.length;
        if (received > maxBytes) return fail(tooLarge(target, `more than ${maxBytes} bytes`, maxBytes));
        const slow = tooSlow();
        if (slow) return fail(slow);
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
        if ((controller.desiredSize ?? 1) > 0) return waitForServer();
        clearTimeout(timer);
        response.pause();
      });
      response.on('end', () => {
        if (finished) return;
        finish();
        controller.close();
      });
      response.on('error', (error) => fail(networkError(target, error)));
      response.on('close', () => {
        if (!response.complete) fail(networkError(target, new Error('the connection closed before the body was complete')));
      });
    },
    pull() {
      if (finished) return;
      waitForServer();
      response.resume();
    },
    cancel() {
      finish();
      response.destroy();
    },
  });
}

/**
 * GETs a public http(s) URL, following redirects, and hands back the body as a
 * stream capped at `maxBytes`. Every failure is a PublicFetchError whose message
 * names the host and says what to do; aborting `signal` rejects with its reason.
 *
 * @example
 * const fetched = await fetchPublicUrl('https://example.com/sales.csv', { maxBytes: 100 << 20, allowHosts: parseAllowHosts(env.MCP_FETCH_ALLOW_HOSTS) });
 * await upload(path, fetched.body);
 */
export async function fetchPublicUrl(url: string, options: PublicFetchOptions): Promise<FetchedBody> {
  const allowed = new Set<string>();
  for (const host of options.allowHosts ?? []) allowed.add(canonicalHost(host) ?? host.toLowerCase());
  const target = checkUrl(url);
  const deadline = deadlineFor(target, options.deadlineMs ?? DEFAULT_DEADLINE_MS);
  const hop: HopOptions = {
    allowed,
    resolve: options.resolve ?? defaultResolve,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal,
    minBytesPerSecond: options.minBytesPerSecond ?? DEFAULT_MIN_BYTES_PER_SECOND,
    settled: deadline.clear,
  };
  try {
    return await follow(target, options, hop);
  } catch (error) {
    deadline.clear();
    throw error;
  }
}

/** A signal that aborts, with a `timeout` error naming the variable, once the whole fetch has taken `ms`. */
function deadlineFor(target: Target, ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(
      new PublicFetchError(
        'timeout',
        `fetching from ${target.host} took longer than ${ms / 1000} s (${DEADLINE_VARIABLE}); give a faster source or a smaller file`,
      ),
    );
  }, ms);
  timer.unref(); // a fetch under way keeps the process up by its socket, not by its deadline
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** The hops: redirects followed one at a time, up to the final response's body. */
async function follow(first: Target, options: PublicFetchOptions, hop: HopOptions): Promise<FetchedBody> {
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  let target = first;
  for (let redirects = 0; ; redirects++) {
    const response = await requestHeaders(target, hop);
    const status = response.statusCode ?? 0;
    if (REDIRECT_STATUSES.has(status)) {
      response.destroy();
      const location = response.headers.location;
      if (!location) {
        throw new PublicFetchError('http', `${describe(target)} answered ${status} (a redirect) without a Location; check the URL`, status);
      }
      if (redirects >= maxRedirects) {
        throw new PublicFetchError(
          'redirects',
          `${describe(target)} redirected again after ${maxRedirects} redirects; give the final URL instead`,
          status,
        );
      }
      let next: string;
      try {
        next = new URL(location, target.url).href;
      } catch {
        throw new PublicFetchError('bad_url', `${describe(target)} redirected to "${location.slice(0, 200)}", which is not a URL`, status);
      }
      target = checkUrl(next, target.host);
      continue;
    }
    if (status < 200 || status > 299) {
      response.destroy();
      const text = response.statusMessage ? ` ${response.statusMessage}` : '';
      throw new PublicFetchError(
        'http',
        `${describe(target)} answered HTTP ${status}${text} for ${target.url.pathname}; check the URL`,
        status,
      );
    }
    const lengthHeader = response.headers['content-length'];
    const contentLength = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    if (contentLength !== undefined && contentLength > options.maxBytes) {
      response.destroy();
      throw tooLarge(target, `${contentLength} bytes`, options.maxBytes);
    }
    const contentType = response.headers['content-type'];
    return {
      url: target.url.href,
      ...(contentType ? { contentType } : {}),
      ...(contentLength !== undefined ? { contentLength } : {}),
      body: bodyStream(response, target, options.maxBytes, hop),
    };
  }
}
