/**
 * `limitTenantRequests(requests, refuse)`: at most `max` requests of one tenant in progress
 * at once in this process; one more is refused (429) before it is read or acted on, so one
 * tenant cannot hold every connection, fd and sandbox call of the process that all tenants
 * share. A request counts until its response has gone out (a streamed run_code, a long-polling
 * wait_run) or its client has gone. Per process, as FC's instance concurrency is: what one
 * instance serves at once, not a rate.
 *
 * The counts are the only state, a number per tenant with requests in progress, gone with the
 * last one: nothing about a request outlives it.
 *
 * @example
 * const requests = createTenantRequests(config.maxRequestsPerTenant);
 * app.use('/mcp', bearer(auth), limitTenantRequests(requests, (held, max) => errors.tooManyRequests(held, max)));
 */
import type { HttpBindings } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import { ANONYMOUS_TENANT, type Tenant, tenantKey } from '../auth/tenant.ts';
import type { TenantVariables } from './bearer-auth.ts';

export interface TenantRequests {
  /** The cap (0 = none). */
  readonly max: number;
  /** Counts a request of `tenant` in, and hands back its release (idempotent); undefined when the tenant is at the cap. */
  enter(tenant: Tenant): (() => void) | undefined;
  /** The tenant's requests in progress. */
  inProgress(tenant: Tenant): number;
}

export function createTenantRequests(max: number): TenantRequests {
  const counts = new Map<string, number>();
  return {
    max,
    enter(tenant) {
      const key = tenantKey(tenant);
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
    inProgress: (tenant) => counts.get(tenantKey(tenant)) ?? 0,
  };
}

type Env = { Variables: Partial<TenantVariables>; Bindings: Partial<HttpBindings> };

/** After the bearer middleware (which names the tenant). `refuse` shapes the 429. */
export function limitTenantRequests(requests: TenantRequests, refuse: (tenant: Tenant, max: number) => Response): MiddlewareHandler<Env> {
  return async function limitTenantRequests(c, next) {
    const tenant = c.get('tenant') ?? ANONYMOUS_TENANT;
    const release = requests.enter(tenant);
    if (!release) return refuse(tenant, requests.max);
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
