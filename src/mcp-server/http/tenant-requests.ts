/**
 * `limitTenantRequests(requests, refuse)`: at most `max` requests of one tenant in progress
 * at once in this process; one more is refused (429) before it is read or acted on, so one
 * tenant cannot hold every connection, fd and sandbox call of the process that all tenants
 * share. A request counts until its response has gone out (a streamed run_code, a long-polling
 * wait_run) or its client has gone. Per process, as FC's instance concurrency is: what one
 * instance serves at once, not a rate.
 *
 * A refusal is answered after REFUSAL_DELAY_MS, not at once: a client that retries as soon as it
 * is refused (an attacker's loop, a careless retry) otherwise makes this process answer 429s as
 * fast as it can send, and every other tenant's requests wait behind that work on its one event
 * loop (under every attack of the security review at once, another tenant's p99 was ×2.2 and ×4.5
 * its idle one with the refusals at once, ×1.2 and ×1.8 with them held 250 ms). At most `max`
 * refusals of a tenant are held at once, so that holding them costs no more connections than its
 * requests do; past that they are answered at once.
 *
 * The counts are the only state, numbers per tenant with requests in progress or refusals held,
 * gone with the last one: nothing about a request outlives it.
 *
 * @example
 * const requests = createTenantRequests(config.maxRequestsPerTenant);
 * app.use('/mcp', bearer(auth), limitTenantRequests(requests, (held, max) => errors.tooManyRequests(held, max)));
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { HttpBindings } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import { ANONYMOUS_TENANT, type Tenant, tenantKey } from '../auth/tenant.ts';
import type { TenantVariables } from './bearer-auth.ts';

/** How long a refusal waits before it is answered, ms. */
export const REFUSAL_DELAY_MS = 250;

export interface TenantRequests {
  /** The cap (0 = none). */
  readonly max: number;
  /** How long a refusal is held before it is answered, ms. */
  readonly refusalDelayMs: number;
  /** Counts a request of `tenant` in, and hands back its release (idempotent); undefined when the tenant is at the cap. */
  enter(tenant: Tenant): (() => void) | undefined;
  /** Counts a refusal of `tenant` held back, and hands back its release; undefined when `max` are held already. */
  holdRefusal(tenant: Tenant): (() => void) | undefined;
  /** The tenant's requests in progress. */
  inProgress(tenant: Tenant): number;
}

export function createTenantRequests(max: number, { refusalDelayMs = REFUSAL_DELAY_MS } = {}): TenantRequests {
  const inProgress = counter(max);
  const refusals = counter(max);
  return {
    max,
    refusalDelayMs,
    enter: (tenant) => inProgress.enter(tenantKey(tenant)),
    holdRefusal: (tenant) => refusals.enter(tenantKey(tenant)),
    inProgress: (tenant) => inProgress.count(tenantKey(tenant)),
  };
}

/** A count per key up to `max` (0 = none), each entry with its idempotent release. */
function counter(max: number) {
  const counts = new Map<string, number>();
  return {
    enter(key: string): (() => void) | undefined {
      const held = counts.get(key) ?? 0;
      if (max > 0 && held >= max) return undefined;
      counts.set(key, held + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (counts.get(key) ?? 1) - 1;
        if (left > 0) counts.set(key, left);
        else counts.delete(key);
      };
    },
    count: (key: string) => counts.get(key) ?? 0,
  };
}

type Env = { Variables: Partial<TenantVariables>; Bindings: Partial<HttpBindings> };

/** After the bearer middleware (which names the tenant). `refuse` shapes the 429. */
export function limitTenantRequests(requests: TenantRequests, refuse: (tenant: Tenant, max: number) => Response): MiddlewareHandler<Env> {
  return async function limitTenantRequests(c, next) {
    const tenant = c.get('tenant') ?? ANONYMOUS_TENANT;
    const release = requests.enter(tenant);
    if (!release) {
      const unhold = requests.holdRefusal(tenant);
      if (unhold) await sleep(requests.refusalDelayMs).finally(unhold);
      return refuse(tenant, requests.max);
    }
    await holdUntilAnswered(c.env?.outgoing, release, next);
  };
}

/**
 * Runs `next` and calls `release` once its answer has gone: Node's response closes once it has been
 * sent in full or its client has gone; without one (app.request in tests) when the handler ends.
 */
export async function holdUntilAnswered(
  outgoing: Partial<HttpBindings>['outgoing'],
  release: () => void,
  next: () => Promise<void>,
): Promise<void> {
  if (outgoing) outgoing.once('close', release);
  try {
    await next();
  } finally {
    if (!outgoing) release();
  }
}
