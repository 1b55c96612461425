/**
 * A context's network policy (E2B's and Alibaba's field names): the hosts it may reach
 * through the policy proxy (`allowOut`), minus those it may not (`denyOut`, which wins).
 * Nothing is reachable by default. The operator's ceiling (SANDBOX_EGRESS_ALLOW) bounds
 * what `allowOut` may name; `denyOut` may name anything.
 */
import { matchesAny, parsePatterns, patternWithin } from './host-patterns.ts';

export interface EgressPolicy {
  /** Host patterns the context may reach (host-patterns.ts). */
  allowOut: string[];
  /** Host patterns it may not, even where allowOut matches. */
  denyOut: string[];
}

/** The default: no host at all. */
export const NO_EGRESS: EgressPolicy = Object.freeze({ allowOut: [], denyOut: [] }) as EgressPolicy;

/** Does the policy let the context reach `host` (normalised: host-patterns.ts's hostKeyOf)? */
export function policyAllows(policy: EgressPolicy, host: string): boolean {
  return matchesAny(policy.allowOut, host) && !matchesAny(policy.denyOut, host);
}

/** A requested policy, normalised; throws HostPatternError naming a pattern that is none. */
export function parsePolicy(request: { allowOut?: readonly string[]; denyOut?: readonly string[] }): EgressPolicy {
  return {
    allowOut: parsePatterns(request.allowOut ?? [], 'allowOut'),
    denyOut: parsePatterns(request.denyOut ?? [], 'denyOut'),
  };
}

/** The first allowOut pattern the ceiling does not cover, if any. */
export function beyondCeiling(policy: EgressPolicy, ceiling: readonly string[]): string | undefined {
  return policy.allowOut.find((pattern) => !patternWithin(pattern, ceiling));
}
