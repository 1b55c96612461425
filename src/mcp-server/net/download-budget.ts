/**
 * The bytes of `write_file` downloads this process holds at once (MCP_FETCH_MAX_BYTES_IN_FLIGHT).
 * A download is held whole before it goes to the sandbox (write-file.ts says why), so without a
 * bound 20 concurrent 20 MiB downloads took the process from 110 to 959 MB, where FC gives the
 * function 256 MB for every tenant. A download takes its bytes as they arrive (its
 * Content-Length at once when it has one) and gives them back once its upload has ended; one
 * that does not fit is refused, not queued. One tenant holds at most half of it (or one file of
 * the largest size, if that is more), so the others' downloads still fit.
 *
 * One per process (createAppDeps makes it), passed down in the tools' deps; numbers per tenant
 * with bytes held, nothing about any request.
 */
export interface DownloadBudget {
  /** The most bytes held at once, all tenants together. */
  readonly max: number;
  /** The most bytes one tenant holds at once. */
  readonly perTenant: number;
  /**
   * Holds `bytes` more for the tenant (by tenantKey) and says true, or holds nothing and says
   * which bound it would pass.
   */
  take(tenant: string, bytes: number): true | 'process' | 'tenant';
  /** Gives back bytes the tenant took. */
  give(tenant: string, bytes: number): void;
  /** The bytes held now, all tenants together. */
  held(): number;
  /**
   * Resolves once the tenant's downloads may take `bytes` more (MCP_FETCH_TENANT_BYTES_PER_SECOND,
   * all its downloads together; at once without a rate). A download at loopback speed kept this
   * process's loop and two cores busy with the bytes crossing it twice, and another tenant's
   * trivial run_code waited ×3.5 its idle p99 behind them.
   */
  pace(tenant: string, bytes: number): Promise<void>;
}

/** Tenants whose pace is kept; past it the ones with nothing owed are forgotten. */
const PACES_KEPT = 1024;

/**
 * `max` for the process; a tenant gets half of it, but at least `largestFile`, and
 * `bytesPerSecond` (0 = no pace), with a second's worth at once.
 */
export function createDownloadBudget(max: number, largestFile = 0, bytesPerSecond = 0): DownloadBudget {
  let held = 0;
  const byTenant = new Map<string, number>();
  /** Per tenant: when its downloads may next take bytes (ms, performance.now's clock), a token bucket kept as its debt. */
  const freeAt = new Map<string, number>();
  const perTenant = Math.min(max, Math.max(Math.floor(max / 2), largestFile));
  return {
    max,
    perTenant,
    take(tenant, bytes) {
      const mine = byTenant.get(tenant) ?? 0;
      if (mine + bytes > perTenant) return 'tenant';
      if (held + bytes > max) return 'process';
      held += bytes;
      byTenant.set(tenant, mine + bytes);
      return true;
    },
    give(tenant, bytes) {
      const mine = byTenant.get(tenant) ?? 0;
      const given = Math.min(mine, bytes);
      held -= given;
      if (mine - given > 0) byTenant.set(tenant, mine - given);
      else byTenant.delete(tenant);
    },
    held: () => held,
    pace(tenant, bytes) {
      if (bytesPerSecond <= 0) return Promise.resolve();
      const now = performance.now();
      if (freeAt.size > PACES_KEPT) for (const [key, at] of freeAt) if (at <= now) freeAt.delete(key);
      // A second's worth may go at once: the clock starts at most a second behind now.
      const from = Math.max(freeAt.get(tenant) ?? 0, now - 1000);
      const next = from + (bytes / bytesPerSecond) * 1000;
      freeAt.set(tenant, next);
      const wait = next - now;
      return wait <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, wait));
    },
  };
}
