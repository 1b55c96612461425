/**
 * cgroup v2 with the `memory` and `pids` controllers delegated to us. Controllers
 * only reach a group whose parent enables them in `cgroup.subtree_control`, and a
 * group holding processes cannot enable any (the "no internal processes" rule), so
 * this works when our own group already passes them down (a delegated systemd
 * unit, the root group) or when we may enable them there; otherwise it is not used.
 * Untried on the development machines, which have no controllers on v2.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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

const WANTED = ['memory', 'pids', 'cpu'];

async function words(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8').catch(() => '')).split(/\s+/).filter(Boolean);
}

export async function openCgroupV2(groupName: string): Promise<Cgroups | undefined> {
  const ownDir = await ownGroupDir('', (m) => m.fsType === 'cgroup2');
  if (!ownDir) return undefined;
  const available = (await words(join(ownDir, 'cgroup.controllers'))).filter((c) => WANTED.includes(c));
  if (available.length === 0) return undefined;
  let passed = (await words(join(ownDir, 'cgroup.subtree_control'))).filter((c) => available.includes(c));
  if (passed.length < available.length) {
    await writeFile(join(ownDir, 'cgroup.subtree_control'), available.map((c) => `+${c}`).join(' ')).catch(() => {});
    passed = (await words(join(ownDir, 'cgroup.subtree_control'))).filter((c) => available.includes(c));
  }
  if (passed.length === 0) return undefined;
  const parent = join(ownDir, groupName);
  try {
    await makeParentGroup(ownDir, groupName);
    await writeFile(join(parent, 'cgroup.subtree_control'), passed.map((c) => `+${c}`).join(' '));
  } catch {
    await removeGroupTree(parent).catch(() => {});
    return undefined;
  }
  const holdsMemory = passed.includes('memory');
  const holdsPids = passed.includes('pids');
  const holdsCpu = passed.includes('cpu');

  return {
    kind: 'cgroup-v2',
    holdsMemory,
    holdsPids,
    holdsCpu,
    async create(name: string, limits: KernelCgroupLimits): Promise<KernelCgroup> {
      const dir = join(parent, name);
      await mkdir(dir);
      const remove = () => removeCgroupDir(dir);
      try {
        if (holdsMemory && limits.memoryBytes > 0) {
          await writeFile(join(dir, 'memory.max'), String(limits.memoryBytes));
          await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => {});
        }
        if (holdsPids && limits.pidsMax > 0) await writeFile(join(dir, 'pids.max'), String(limits.pidsMax));
        if (holdsCpu && limits.cpus > 0) await writeFile(join(dir, 'cpu.max'), `${cpuQuotaUs(limits.cpus)} ${CPU_PERIOD_US}`);
      } catch (error) {
        await remove().catch(() => {});
        throw error;
      }
      return { dirs: [dir], remove };
    },
    async close() {
      await removeCgroupDir(parent).catch(() => {});
    },
  };
}
