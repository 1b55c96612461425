/**
 * Is a request local? One answer for both HTTP faces that a browser on this
 * machine could reach: the MCP edge on a loopback bind and the sandbox service's
 * API. A page elsewhere reaches a loopback server through DNS rebinding (its own
 * name resolving to 127.0.0.1: a foreign Host) or by posting cross-site (a foreign
 * Origin); both are refused. Hand-written because Hono ships no Host check and the
 * SDK's compares exact host names, with no Origin check for "null" or 127.0.0.0/8.
 * Imports nothing, so either side may use it without reaching into the other.
 */

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase();
  return name === 'localhost' || name === '::1' || name === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** The host name of a Host header or Origin value, without brackets or port; undefined if it is no URL. */
export function hostnameOf(value: string): string | undefined {
  try {
    return new URL(value.includes('://') ? value : `http://${value}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

export interface ForeignHeader {
  header: 'Host' | 'Origin';
  value: string;
}

/**
 * The first header that says the request did not come from this machine, or undefined.
 * `checkHost: false` for a server bound beyond loopback, whose clients use other names
 * for it; a foreign Origin (a browser page elsewhere, or `Origin: null`) is refused either way.
 */
export function foreignHeader(
  request: { host: string | undefined; origin: string | undefined },
  { checkHost = true }: { checkHost?: boolean } = {},
): ForeignHeader | undefined {
  if (checkHost) {
    const host = request.host === undefined ? undefined : hostnameOf(request.host);
    if (!host || !isLoopbackHost(host)) return { header: 'Host', value: request.host ?? '' };
  }
  if (request.origin !== undefined) {
    const origin = request.origin === 'null' ? undefined : hostnameOf(request.origin);
    if (!origin || !isLoopbackHost(origin)) return { header: 'Origin', value: request.origin };
  }
  return undefined;
}
