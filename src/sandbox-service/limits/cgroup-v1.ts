/**
 * cgroup v1: the `memory`, `pids` and `cpu` hierarchies, each mounted on its own (`cpuacct`
 * beside `cpu`, or with it, counts the CPU time a group used: measured, not limited). The
 * sandbox makes `fc-sandbox-<pid>` under its own group in each (so whatever limits
 * the server itself sits under still hold) and one group per kernel below that.
 */
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CPU_PERIOD_US,
  type Cgroups,
  cpuQuotaUs,
  type KernelCgroup,
  type KernelCgroupLimits,
  removeCgroupDir,
  removeGroupTree,
} from './kernel-cgroup.ts';
import { makeParentGroup, ownGroupDir } from './own-cgroup.ts';
import { TenantCpuGroups } from './tenant-cpu-groups.ts';

/** Gives a cpu group a CFS quota of `cpus` CPUs. */
async function limitCpu(dir: string, cpus: number): Promise<void> {
  await writeFile(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
  await writeFile(join(dir, 'cpu.cfs_quota_us'), String(cpuQuotaUs(cpus)));
}

/** Our parent group in one controller's hierarchy, made (or found) and writable; undefined when not ours to use. */
async function parentIn(controller: string, name: string): Promise<string | undefined> {
  const ownDir = await ownGroupDir(controller, (m) => m.fsType === 'cgroup' && m.superOptions.includes(controller));
  if (!ownDir) return undefined;
  try {
    const parent = await makeParentGroup(ownDir, name);
    await access(join(parent, 'cgroup.procs'));
    // A group we cannot write limits into holds nothing.
    const probe = join(parent, 'probe');
    await mkdir(probe);
    await removeCgroupDir(probe);
    return parent;
  } catch {
    return undefined;
  }
}

export async function openCgroupV1(groupName: string): Promise<Cgroups | undefined> {
  const [memory, pids, cpu, cpuacct] = await Promise.all(
    ['memory', 'pids', 'cpu', 'cpuacct'].map((controller) => parentIn(controller, groupName)),
  );
  if (!memory && !pids && !cpu) return undefined;
  // Mounted together (`cpu,cpuacct`), both are one directory: one group holds and counts.
  const accounting = cpuacct !== cpu ? cpuacct : undefined;
  const tenants = cpu ? new TenantCpuGroups(cpu, limitCpu) : undefined;

  return {
    kind: 'cgroup-v1',
    holdsMemory: memory !== undefined,
    holdsPids: pids !== undefined,
    holdsCpu: cpu !== undefined,
    async create(name: string, limits: KernelCgroupLimits, tenant?: string): Promise<KernelCgroup> {
      const dirs: string[] = [];
      /** The tree's cpu group, under its tenant's once it has one. */
      let cpuDir: string | undefined;
      let inTenant = false;
      let removing: Promise<void> | undefined;
      const remove = () =>
        (removing ??= Promise.all(dirs.map((dir) => removeCgroupDir(dir))).then(async () => {
          if (inTenant && cpuDir) await tenants?.release(cpuDir);
        }));
      const byTenant = limits.tenantCpus > 0 && tenants !== undefined;
      /** The tree's cpu group: under the tenant's group when there is one to hold it, else beside the others. */
      const makeCpuDir = async (tenantOf: string | undefined) => {
        let dir: string;
        if (tenantOf !== undefined && byTenant) {
          dir = await tenants.makeKernelDir(tenantOf, name, limits.tenantCpus, accounting && join(accounting, name));
          inTenant = true;
        } else {
          dir = join(cpu!, name);
          await mkdir(dir);
        }
        if (limits.cpus > 0) await limitCpu(dir, limits.cpus);
        return dir;
      };
      try {
        if (memory && limits.memoryBytes > 0) {
          const dir = join(memory, name);
          await mkdir(dir);
          dirs.push(dir);
          await writeFile(join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
          // With swap, memory alone would let the tree page out past the limit; memsw (when the
          // kernel accounts swap) caps memory plus swap at the same figure. It must not be below
          // memory.limit_in_bytes, which is why it is written second.
          await writeFile(join(dir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => {});
        }
        if (pids && limits.pidsMax > 0) {
          const dir = join(pids, name);
          await mkdir(dir);
          dirs.push(dir);
          await writeFile(join(dir, 'pids.max'), String(limits.pidsMax));
        }
        if (cpu && (limits.cpus > 0 || byTenant)) {
          cpuDir = await makeCpuDir(tenant);
          dirs.push(cpuDir);
          if (accounting) {
            const counted = join(accounting, name);
            await mkdir(counted);
            dirs.push(counted);
          }
        }
      } catch (error) {
        await remove().catch(() => {});
        throw error;
      }
      return {
        dirs,
        remove,
        async joinTenant(tenantOf: string) {
          if (!byTenant || inTenant || !cpuDir || removing) return;
          const from = cpuDir;
          const to = await makeCpuDir(tenantOf);
          // Each process of the tree moves with all its threads; one forked meanwhile stays
          // behind, under its context's own quota still, and keeps the old group (the rmdir fails).
          const procs = await readFile(join(from, 'cgroup.procs'), 'utf8').catch(() => '');
          for (const pid of procs.split('\n').filter(Boolean)) {
            await writeFile(join(to, 'cgroup.procs'), pid).catch(() => {}); // ended meanwhile
          }
          dirs.splice(dirs.indexOf(from), 1, to);
          cpuDir = to;
          await removeCgroupDir(from).catch(() => {
            dirs.push(from);
          });
        },
      };
    },
    async close() {
      await tenants?.remove();
      await Promise.all(
        [memory, pids, cpu, accounting].filter((dir): dir is string => !!dir).map((dir) => removeGroupTree(dir).catch(() => {})),
      );
    },
  };
}
