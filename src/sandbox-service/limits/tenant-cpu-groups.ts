/**
 * A tenant's CPU time, above its contexts' own: each tenant gets a cpu group whose quota is
 * SANDBOX_TENANT_CPUS, and the cpu groups of its kernels sit under it. A context's own quota
 * (SANDBOX_CPUS) held one context to a CPU but not a tenant: four busy contexts took four CPUs,
 * and on two cores the server and every other tenant's kernels waited for theirs (a second
 * tenant's trivial run_code went from a p99 of 27 to 190–340 ms under one tenant's floods and
 * loops). Under its own group the tenant's contexts share its quota, and the kernel throttles
 * only them past it; groups of equal weight also share a busy CPU tenant by tenant, not
 * context by context.
 *
 * A quota bounds how much a tenant takes, not how soon the others get a CPU back: with a busy
 * tenant's loops runnable on both cores, another tenant's trivial run still waited for each of
 * its several wake-ups (its kernel's time for `1 + 1` reached 30–60 ms). So a tenant whose
 * kernels used at least half its quota over the last look runs in the background (the group's
 * `cpu.idle`, the kernel's SCHED_IDLE for a group: anything else that wakes takes the CPU at
 * once) until it has used less for a second. Alone on a host it still gets all its quota.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { removeGroupTree, TENANT_GROUP_MARK } from './kernel-cgroup.ts';

/** How often the tenants' CPU time is read. */
const LOOK_MS = 250;
/** The share of its quota a tenant may use over one look and stay in front. */
const BUSY_SHARE = 0.5;
/** How long a tenant in the background must stay below that share to come back. */
const CALM_MS = 1000;

interface Tenant {
  dir: string;
  cpus: number;
  /** Each kernel's cpuacct.usage file (ns), with what it read at the last look. */
  kernels: Map<string, { usageFile: string; lastNs?: number }>;
  background: boolean;
  busyAt: number;
}

export class TenantCpuGroups {
  /** Where the tenants' groups are made: beside the server's own processes (see the constructor). */
  readonly #parent: string;
  /** Their names' prefix (`<sandbox's group>-tenant-`), which tells this sandbox's from another's. */
  readonly #prefix: string;
  readonly #limit: (dir: string, cpus: number) => Promise<void>;
  readonly #tenants = new Map<string, Tenant>();
  #timer: NodeJS.Timeout | undefined;
  #looking = false;
  #lastLook = 0;

  /**
   * The tenants' groups are made beside the sandbox's cpu group `sandboxDir`, as
   * `<its name>-tenant-<hash>`; `limit` writes a quota of `cpus` CPUs into a group (the flavour's
   * own files). Beside it, in the server's own group, not under it: the kernel weighs `cpu.idle`
   * only against a group's siblings, so a tenant in the background under the sandbox's group gave
   * way to the other tenants' kernels but not to the server, whose threads met the sandbox's
   * group as a whole (normal) and waited behind the busy tenant's loops (`perf sched`: 4–23 ms
   * at a time).
   */
  constructor(sandboxDir: string, limit: (dir: string, cpus: number) => Promise<void>) {
    this.#parent = dirname(sandboxDir);
    this.#prefix = `${basename(sandboxDir)}${TENANT_GROUP_MARK}`;
    this.#limit = limit;
  }

  /**
   * Makes the kernel group `name` under the tenant's group (made with its quota if it is not
   * there): where the tenant's last kernel group went a moment ago, its group may be gone too.
   * The kernel's cpuacct.usage tells how busy the tenant is: in its cpu group where cpuacct is
   * mounted with cpu, else in `accountingDir`.
   */
  async makeKernelDir(tenant: string, name: string, tenantCpus: number, accountingDir?: string): Promise<string> {
    const tenantDir = join(this.#parent, `${this.#prefix}${createHash('sha256').update(tenant).digest('hex').slice(0, 16)}`);
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
        this.#watch(tenantDir, tenantCpus).kernels.set(dir, { usageFile: join(accountingDir ?? dir, 'cpuacct.usage') });
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
    if (!tenantDir.startsWith(join(this.#parent, this.#prefix))) return;
    const tenant = this.#tenants.get(tenantDir);
    tenant?.kernels.delete(kernelDir);
    await rmdir(tenantDir).catch(() => {}); // another kernel of the tenant still there (EBUSY, ENOTEMPTY)
    // One made meanwhile (a new group, in front) keeps the tenant watched.
    if (tenant?.kernels.size === 0) this.#tenants.delete(tenantDir);
    if (this.#tenants.size === 0) this.close();
  }

  /** Stops reading the tenants' CPU time. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** At the sandbox's stop: stops, and removes every tenant's group it made (one a release could not remove included). */
  async remove(): Promise<void> {
    this.close();
    this.#tenants.clear();
    const entries = await readdir(this.#parent, { withFileTypes: true }).catch(() => []);
    await Promise.all(
      entries
        .filter((entry) => entry.isDirectory() && entry.name.startsWith(this.#prefix))
        .map((entry) => removeGroupTree(join(this.#parent, entry.name)).catch(() => {})),
    );
  }

  #watch(dir: string, cpus: number): Tenant {
    let tenant = this.#tenants.get(dir);
    if (!tenant) {
      tenant = { dir, cpus, kernels: new Map(), background: false, busyAt: Number.NEGATIVE_INFINITY };
      this.#tenants.set(dir, tenant);
    }
    if (!this.#timer) {
      this.#lastLook = performance.now();
      this.#timer = setInterval(() => void this.#look(), LOOK_MS).unref();
    }
    return tenant;
  }

  async #look(): Promise<void> {
    if (this.#looking) return;
    this.#looking = true;
    try {
      const now = performance.now();
      const elapsedNs = (now - this.#lastLook) * 1e6;
      this.#lastLook = now;
      for (const tenant of this.#tenants.values()) {
        let usedNs = 0;
        for (const kernel of tenant.kernels.values()) {
          const usage = Number(await readFile(kernel.usageFile, 'utf8').catch(() => Number.NaN));
          if (!Number.isFinite(usage)) continue; // not counted where cpuacct is not mounted; gone
          if (kernel.lastNs !== undefined) usedNs += usage - kernel.lastNs;
          kernel.lastNs = usage;
        }
        if (usedNs >= BUSY_SHARE * tenant.cpus * elapsedNs) tenant.busyAt = now;
        const background = now - tenant.busyAt < CALM_MS;
        if (background !== tenant.background) {
          tenant.background = background;
          await setBackground(tenant.dir, background);
        }
      }
    } finally {
      this.#looking = false;
    }
  }
}

/**
 * `cpu.idle` where the kernel has it (5.15 on), else the least weight a group can have. A
 * group gone meanwhile is no error.
 */
async function setBackground(dir: string, background: boolean): Promise<void> {
  await writeFile(join(dir, 'cpu.idle'), background ? '1' : '0').catch(() =>
    writeFile(join(dir, 'cpu.shares'), background ? '2' : '1024').catch(() => {}),
  );
}
