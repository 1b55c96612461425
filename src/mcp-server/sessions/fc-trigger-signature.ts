/**
 * Signs requests to the sandbox function's HTTP trigger, which s.yaml deploys with
 * `authType: function`: FC's gateway lets a request through only when it carries an
 * ACS3-HMAC-SHA256 signature by credentials of the same account. The MCP function
 * signs with its role's temporary credentials, so the sandbox is closed to everyone
 * else without any extra secret to manage.
 *
 * The scheme is the one FC documents for HTTP triggers ("Configure signature
 * authentication for HTTP triggers"): sign `x-acs-date` and `x-acs-security-token`
 * (empty without STS), the method, path and query, with an empty payload line (the
 * gateway does not hash streamed bodies); put the result in `Authorization`.
 * Written with node:crypto rather than loading the SDK on every sandbox call.
 */
import { createHash, createHmac } from 'node:crypto';
import type { AlibabaCredentials } from './types.ts';

const ALGORITHM = 'ACS3-HMAC-SHA256';

/** RFC 3986 encoding of a query value, as the Alibaba Cloud signature expects. */
function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `2026-01-02T03:04:05Z`: the SDK's x-acs-date format (seconds, UTC). */
function acsDate(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The Authorization header value for one request. Exported for the tests, which compare it with the SDK's. */
export function fcTriggerAuthorization(
  parts: { method: string; url: URL; date: string; securityToken: string },
  credentials: Pick<AlibabaCredentials, 'accessKeyId' | 'accessKeySecret'>,
): string {
  const canonicalUri = parts.url.pathname.replace(/\$/g, '%24').replace(/\+/g, '%20').replace(/\*/g, '%2A').replace(/%7E/g, '~');
  const canonicalQuery = [...new Set(parts.url.searchParams.keys())]
    .sort()
    .map((key) => `${key}=${encodeQueryValue(parts.url.searchParams.get(key) ?? '')}`)
    .join('&');
  const canonicalHeaders = `x-acs-date:${parts.date}\nx-acs-security-token:${parts.securityToken}\n`;
  const signedHeaders = 'x-acs-date;x-acs-security-token';
  const canonicalRequest = [parts.method.toUpperCase(), canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, ''].join('\n');
  const stringToSign = `${ALGORITHM}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
  const signature = createHmac('sha256', credentials.accessKeySecret).update(stringToSign).digest('hex');
  return `${ALGORITHM} Credential=${credentials.accessKeyId},SignedHeaders=${signedHeaders},Signature=${signature}`;
}

/**
 * Adds FC's signature headers to an outgoing sandbox request (the sandbox client's
 * `authorize` hook). Called again on each retry, so the date is always fresh. The example
 * is compiled in fc.examples.ts.
 *
 * @example
 * createSandboxClient({ baseUrl, sessionHeader, authorize: signForFcTrigger(credentials) });
 */
export function signForFcTrigger(credentials: AlibabaCredentials, clock: () => Date = () => new Date()) {
  return function signFcTriggerRequest(request: Request): void {
    const date = acsDate(clock());
    const securityToken = credentials.securityToken ?? '';
    request.headers.set('x-acs-date', date);
    request.headers.set('x-acs-security-token', securityToken);
    request.headers.set(
      'authorization',
      fcTriggerAuthorization({ method: request.method, url: new URL(request.url), date, securityToken }, credentials),
    );
  };
}
