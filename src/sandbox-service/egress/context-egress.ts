/**
 * One context's way out: its network policy (changeable while its kernel runs), the hosts
 * an install may reach for its duration (withInstallAllowance), and the proxy's listeners
 * of the jails that run under it (its kernel, its installers). A kernel started before its
 * context existed (the pool's spare) gets one with no host allowed, which the context takes
 * over with the kernel; a restarted kernel gets its context's.
 */
import { randomBytes } from 'node:crypto';
import { NO_EGRESS, type EgressPolicy, policyAllows } from './egress-policy.ts';
import { matchesAny, parsePatterns } from './host-patterns.ts';
import type { PolicyProxy, ProxyRoute } from './policy-proxy.ts';

/** What a jail (spawnJailed, jail-command.ts's JailPlacement.egress) is given to reach the proxy. */
export interface EgressRoute {
  /** Serves this route on a unix socket at `path` (host path), connectable by `uid`; the socket exists on return. */
  listenUnix(path: string, uid: number | undefined): { close(): void };
  /** Without the jail: the proxy URL on the sandbox's loopback listener (advisory), with its release; undefined when there is none. */
  loopbackUrl(): { url: string; release(): void } | undefined;
}

export class ContextEgress implements ProxyRoute, EgressRoute {
  readonly #proxy: PolicyProxy;
  #policy: EgressPolicy = NO_EGRESS;
  /** Host patterns allowed for the installs under way, one list per install. */
  readonly #allowances = new Set<string[]>();
  readonly #open = new Set<{ host: string; close: () => void }>();

  constructor(proxy: PolicyProxy) {
    this.#proxy = proxy;
  }

  get policy(): EgressPolicy {
    return this.#policy;
  }

  /**
   * Replaces the policy (checked against the ceiling by the caller: egress-settings.ts). The next
   * request follows it; open tunnels to hosts it no longer allows are closed.
   */
  setPolicy(policy: EgressPolicy): void {
    this.#policy = policy;
    for (const entry of this.#open) if (this.refusal(entry.host) !== undefined) entry.close();
  }

  /** `hosts` (patterns) are allowed as well while `fn` runs; a denyOut still wins. */
  async withAllowance<T>(hosts: readonly string[], fn: () => Promise<T>): Promise<T> {
    const patterns = parsePatterns(hosts, 'install hosts');
    this.#allowances.add(patterns);
    try {
      return await fn();
    } finally {
      this.#allowances.delete(patterns);
      for (const entry of this.#open) if (this.refusal(entry.host) !== undefined) entry.close();
    }
  }

  refusal(host: string): string | undefined {
    if (policyAllows(this.#policy, host)) return undefined;
    if (!matchesAny(this.#policy.denyOut, host) && [...this.#allowances].some((patterns) => matchesAny(patterns, host))) return undefined;
    if (matchesAny(this.#policy.denyOut, host)) return `its denyOut names it (${this.#policy.denyOut.join(', ')})`;
    const allowed = this.#policy.allowOut.length === 0 ? 'it allows no host' : `it allows ${this.#policy.allowOut.join(', ')}`;
    return `${allowed}; the context's network policy can be changed (MCP: set_network; sandbox API: PUT /contexts/{id}/network) within the hosts the operator allows (SANDBOX_EGRESS_ALLOW)`;
  }

  opened(host: string, close: () => void): () => void {
    const entry = { host, close };
    this.#open.add(entry);
    return () => this.#open.delete(entry);
  }

  listenUnix(path: string, uid: number | undefined): { close(): void } {
    return this.#proxy.listenUnix(path, this, uid);
  }

  loopbackUrl(): { url: string; release(): void } | undefined {
    return this.#proxy.loopbackUrl(this, randomBytes(16).toString('hex'));
  }
}

/**
 * Allows `hosts` (patterns; the operator's package indexes) to the context for the duration
 * of `fn`, beyond its policy and the ceiling, never beyond the address guard (private hosts
 * still need SANDBOX_EGRESS_PRIVATE_HOSTS) nor the context's denyOut.
 */
export function withInstallAllowance<T>(egress: ContextEgress, hosts: readonly string[], fn: () => Promise<T>): Promise<T> {
  return egress.withAllowance(hosts, fn);
}
