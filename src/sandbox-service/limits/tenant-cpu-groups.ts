/**
 * A tenant's CPU time, above its contexts' own: each tenant gets a cpu group whose quota is
 * SANDBOX_TENANT_CPUS, and the cpu groups of its kernels sit under it. A context's own quota
 * (SANDBOX_CPUS) held one context to a CPU but not a tenant: four busy contexts took four CPUs,
 * and on two cores the server and every other tenant's kernels waited for theirs (a second
 * tenant's trivial run_code went from a p99 of 27 to 190–340 ms under one tenant's floods and
 * loops). Under its own group the tenant's contexts share its quota, and the kernel throttles
 * only them past it; groups of equal weight also share a busy CPU tenant by tenant, not
 * context by context.
 */
import { createHash } from 'node:crypto';
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

export class TenantCpuGroups {
  readonly #parent: string;
  readonly #limit: (dir: string, cpus: number) => Promise<void>;

  /** `limit` writes a quota of `cpus` CPUs into a group (the flavour's own files). */
  constructor(parent: string, limit: (dir: string, cpus: number) => Promise<void>) {
    this.#parent = parent;
    this.#limit = limit;
  }

  /**
   * Makes the kernel group `name` under the tenant's group (made with its quota if it is not
   * there): where the tenant's last kernel group went a moment ago, its group may be gone too.
   */
  async makeKernelDir(tenant: string, name: string, tenantCpus: number): Promise<string> {
    const tenantDir = join(this.#parent, `tenant-${createHash('sha256').update(tenant).digest('hex').slice(0, 16)}`);
    for (let attempt = 0; ; attempt++) {
      const dir = join(tenantDir, name);
      try {
        const made = await mkdir(tenantDir).then(
          () => true,
          (error: NodeJS.ErrnoException) => {
            if (error.code === 'EEXIST') return false;
            throw error;
          },
        );
        if (made) await this.#limit(tenantDir, tenantCpus);
        await mkdir(dir);
        return dir;
      } catch (error) {
        // Removed in between by release(): make it again.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 2) throw error;
      }
    }
  }

  /** After a kernel group under a tenant has gone: its tenant's group goes once it holds no other. */
  async release(kernelDir: string): Promise<void> {
    const tenantDir = join(kernelDir, '..');
    if (!tenantDir.startsWith(`${this.#parent}/tenant-`)) return;
    await rmdir(tenantDir).catch(() => {}); // another kernel of the tenant still there (EBUSY, ENOTEMPTY)
  }
}
