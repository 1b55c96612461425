/**
 * The sandbox's egress, as the operator set it: the policy proxy, the ceiling every
 * context's policy must stay within (SANDBOX_EGRESS_ALLOW), and whether a policy can be
 * enforced here at all (the jail: a network namespace with no way out but the proxy) or
 * only advised (SANDBOX_EGRESS_ADVISORY, jail off). One per sandbox service.
 */
import { ContextEgress } from './context-egress.ts';
import { beyondCeiling, type EgressPolicy, parsePolicy } from './egress-policy.ts';
import { HostPatternError } from './host-patterns.ts';
import { PolicyProxy, type PolicyProxyOptions } from './policy-proxy.ts';
import { NETWORK_REFUSAL } from '../../protocol/sandbox-api.ts';

export interface SandboxEgressSettings {
  /** SANDBOX_EGRESS_ALLOW, normalised. */
  ceiling: readonly string[];
  privateHosts: readonly string[];
  headers: PolicyProxyOptions['headers'];
  /** The jail is on: a policy is enforced. */
  enforced: boolean;
  /** SANDBOX_EGRESS_ADVISORY: with the jail off, policies are accepted and advised. */
  advisory: boolean;
  /** SANDBOX_ALLOW_NETWORK: every context has the whole network already; a policy cannot narrow it. */
  openNetwork: boolean;
  resolve?: PolicyProxyOptions['resolve'];
}

/** A policy this sandbox refuses; the message names the host or the setting, `code` the refusal it is answered as. */
export class EgressPolicyError extends Error {
  override name = 'EgressPolicyError';
  constructor(
    message: string,
    readonly code: 'network_refused' | 'invalid_host_pattern' = 'network_refused',
  ) {
    super(message);
  }
}

export class SandboxEgress {
  readonly proxy: PolicyProxy;
  readonly #settings: SandboxEgressSettings;

  private constructor(settings: SandboxEgressSettings) {
    this.#settings = settings;
    this.proxy = new PolicyProxy({ privateHosts: settings.privateHosts, headers: settings.headers, resolve: settings.resolve });
  }

  /** Starts what the mode needs (jail off and advisory: the loopback listener). */
  static async start(settings: SandboxEgressSettings): Promise<SandboxEgress> {
    const egress = new SandboxEgress(settings);
    if (egress.#routed && !settings.enforced) await egress.proxy.listenLoopback();
    return egress;
  }

  /** Do jails get a way out through the proxy? Not with the whole network open, nor unjailed unless advised. */
  get #routed(): boolean {
    return !this.#settings.openNetwork && (this.#settings.enforced || this.#settings.advisory);
  }

  /** A fresh route (no host allowed) for a kernel, a command or a context; undefined where jails get none. */
  route(): ContextEgress | undefined {
    return this.#routed ? new ContextEgress(this.proxy) : undefined;
  }

  /** The requested policy, normalised, or EgressPolicyError saying why this sandbox cannot give it. */
  check(request: { allowOut?: readonly string[]; denyOut?: readonly string[] }): EgressPolicy {
    let policy: EgressPolicy;
    try {
      policy = parsePolicy(request);
    } catch (error) {
      if (error instanceof HostPatternError) throw new EgressPolicyError(`${NETWORK_REFUSAL}: ${error.message}`, 'invalid_host_pattern');
      throw error;
    }
    if (policy.allowOut.length === 0) return policy;
    const { ceiling, openNetwork, enforced, advisory } = this.#settings;
    if (openNetwork) {
      throw new EgressPolicyError(
        `${NETWORK_REFUSAL} refused: this sandbox gives every context the whole network (SANDBOX_ALLOW_NETWORK=true), which a policy cannot narrow; its operator unsets SANDBOX_ALLOW_NETWORK to use per-context policies`,
      );
    }
    if (!enforced && !advisory) {
      throw new EgressPolicyError(
        `${NETWORK_REFUSAL} refused: this sandbox runs without its jail, so it cannot enforce a policy (code could go around the proxy to whatever the platform's network reaches); its operator can accept advisory policies with SANDBOX_EGRESS_ADVISORY=true, and the platform's own network settings decide what is reachable`,
      );
    }
    const beyond = beyondCeiling(policy, ceiling);
    if (beyond !== undefined) {
      const allowed = ceiling.length === 0 ? 'no host' : ceiling.join(', ');
      throw new EgressPolicyError(
        `${NETWORK_REFUSAL} refused: ${beyond} is beyond the hosts this sandbox's operator allows contexts (SANDBOX_EGRESS_ALLOW: ${allowed})`,
      );
    }
    return policy;
  }

  /** The start line's words about egress. */
  describe(): string {
    const { ceiling, openNetwork, enforced, advisory, privateHosts, headers } = this.#settings;
    if (openNetwork) return 'egress: the whole network for every context (SANDBOX_ALLOW_NETWORK=true); per-context policies are refused';
    const extras = [
      privateHosts.length > 0 ? `private hosts allowed: ${privateHosts.join(', ')}` : '',
      Object.keys(headers).length > 0 ? `headers added for: ${Object.keys(headers).join(', ')}` : '',
    ].filter(Boolean);
    const tail = `${ceiling.length === 0 ? 'no host' : ceiling.join(', ')}${extras.length > 0 ? `; ${extras.join('; ')}` : ''}`;
    if (enforced) return `egress: per-context policies through the policy proxy, none by default; contexts may be allowed ${tail}`;
    if (advisory) {
      return `egress: NOT ENFORCED (no jail): per-context policies are advisory (SANDBOX_EGRESS_ADVISORY=true), the proxy variables set but code can go around them; contexts may be allowed ${tail}`;
    }
    return "egress: cannot be enforced without the jail: per-context network policies are refused (SANDBOX_EGRESS_ADVISORY=true accepts them as advice); the platform's network settings decide what code reaches";
  }

  close(): void {
    this.proxy.close();
  }
}
