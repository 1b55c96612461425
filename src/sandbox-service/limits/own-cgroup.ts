/**
 * Where either cgroup flavour puts the sandbox's groups: its parent group under the
 * server's own group (so whatever limits the server itself sits under still hold).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type CgroupMount, cgroupMounts, ownCgroupPaths, ownDirIn, removeStaleGroups } from './kernel-cgroup.ts';

/**
 * The host directory of the server's own group in one hierarchy (`hierarchy` as
 * /proc/self/cgroup names it: a v1 controller, or `''` for v2) mounted where `isMount`
 * says; undefined when it is not visible here.
 */
export async function ownGroupDir(hierarchy: string, isMount: (mount: CgroupMount) => boolean): Promise<string | undefined> {
  const own = await ownCgroupPaths().catch(() => new Map<string, string>());
  const ownPath = own.get(hierarchy);
  if (ownPath === undefined) return undefined;
  const mount = (await cgroupMounts()).find(isMount);
  return mount && ownDirIn(mount, ownPath);
}

/** Makes (or finds) the sandbox's parent group `name` in `ownDir`, after sweeping the groups dead sandboxes left there. */
export async function makeParentGroup(ownDir: string, name: string): Promise<string> {
  await removeStaleGroups(ownDir);
  const parent = join(ownDir, name);
  await mkdir(parent, { recursive: true });
  return parent;
}
