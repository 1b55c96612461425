/**
 * cgroup v1: the `memory` and `pids` hierarchies, each mounted on its own. The
 * sandbox makes `fc-sandbox-<pid>` under its own group in each (so whatever limits
 * the server itself sits under still hold) and one group per kernel below that.
 */
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Cgroups, type KernelCgroup, type KernelCgroupLimits, removeCgroupDir, removeGroupTree } from './kernel-cgroup.ts';
import { makeParentGroup, ownGroupDir } from './own-cgroup.ts';

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
  const [memory, pids] = await Promise.all([parentIn('memory', groupName), parentIn('pids', groupName)]);
  if (!memory && !pids) return undefined;

  return {
    kind: 'cgroup-v1',
    holdsMemory: memory !== undefined,
    holdsPids: pids !== undefined,
    async create(name: string, limits: KernelCgroupLimits): Promise<KernelCgroup> {
      const dirs: string[] = [];
      let removing: Promise<void> | undefined;
      const remove = () => (removing ??= Promise.all(dirs.map((dir) => removeCgroupDir(dir))).then(() => {}));
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
      } catch (error) {
        await remove().catch(() => {});
        throw error;
      }
      return { dirs, remove };
    },
    async close() {
      await Promise.all([memory, pids].filter((dir): dir is string => !!dir).map((dir) => removeGroupTree(dir).catch(() => {})));
    },
  };
}
