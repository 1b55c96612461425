/**
 * The sandbox's side of a tenant's cap (protocol.ts TenantQuota): how many contexts
 * one tenant may hold here, and the refusal when it holds them. The count itself is
 * the registry's (context-registry.ts), taken in the same step as the reservation.
 */
import { QUOTA_REFUSAL, type TenantQuota } from '../../protocol/sandbox-api.ts';

/** The part of SANDBOX_MAX_CONTEXTS no one tenant may take: it stays for the others. */
export const OTHER_TENANTS_SHARE = 1 / 4;

/**
 * The most contexts one tenant may hold in a sandbox of `maxContexts`, whatever its
 * quota asks: a quarter (rounded up) is kept for other tenants, and at least one is allowed.
 */
export function tenantShare(maxContexts: number): number {
  return Math.max(1, maxContexts - Math.ceil(maxContexts * OTHER_TENANTS_SHARE));
}

/** Why a creation under `quota` is refused while the tenant holds `held` contexts; undefined when it may go ahead. */
export function quotaRefusal(quota: TenantQuota, held: number, maxContexts: number): string | undefined {
  if (held >= quota.max_contexts) return `${QUOTA_REFUSAL}: ${held} live contexts, at most ${quota.max_contexts} per tenant`;
  const share = tenantShare(maxContexts);
  if (held >= share) {
    return (
      `${QUOTA_REFUSAL}: ${held} live contexts, the most one tenant may hold in this sandbox ` +
      `(SANDBOX_MAX_CONTEXTS=${maxContexts}; a quarter is kept for other tenants)`
    );
  }
  return undefined;
}
