/**
 * How a jailed process finds the policy proxy: a socat bridge inside the jail's own network
 * namespace listens on loopback and passes each connection to the unix socket the proxy serves
 * the jail on (bound in at EGRESS_SOCKET_MOUNT). The jail has no other way out and no DNS:
 * names are resolved by the proxy, outside.
 */

/** Where the jail sees its proxy socket (not under the run directory, which a Deno kernel unmounts). */
export const EGRESS_SOCKET_MOUNT = '/run/egress.sock';
/** The bridge's port on the jail's own loopback (nothing else listens there). */
export const EGRESS_PORT = 3128;
/** The socket's name in a jail's run directory. */
export const EGRESS_SOCKET_NAME = 'egress.sock';

/**
 * The variables that send HTTP clients through the proxy (both cases: curl reads lower case,
 * pip and Node's undici either), and an empty NO_PROXY so nothing bypasses it.
 */
export function proxyEnv(url = `http://127.0.0.1:${EGRESS_PORT}`): Record<string, string> {
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    ALL_PROXY: url,
    all_proxy: url,
    NO_PROXY: '',
    no_proxy: '',
  };
}

/**
 * Prefixes a jail's command with the bridge: socat on 127.0.0.1:EGRESS_PORT, ready before the
 * command runs (it waits for the listening socket in /proc/net/tcp). `dropCaps` for a jail
 * whose first process is uid 0 with capabilities (Deno's): the bridge keeps none.
 */
export function withEgressBridge(command: string[], socket = EGRESS_SOCKET_MOUNT, dropCaps = false): string[] {
  const noCaps = dropCaps ? '/usr/bin/setpriv --bounding-set=-all --inh-caps=-all -- ' : '';
  const hexPort = EGRESS_PORT.toString(16).toUpperCase().padStart(4, '0');
  const script = [
    `${noCaps}/usr/bin/socat -b 262144 TCP-LISTEN:${EGRESS_PORT},bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:${socket} </dev/null >/dev/null 2>&1 &`,
    `i=0; until grep -q ':${hexPort} 00000000:0000 0A' /proc/net/tcp 2>/dev/null || [ $i -ge 400 ]; do i=$((i+1)); sleep 0.005; done`,
    'exec "$@"',
  ].join('\n');
  return ['/bin/sh', '-c', script, 'egress-bridge', ...command];
}
