/**
 * What every cgroup flavour hands the sandbox: one group per kernel process tree,
 * holding the context's memory (everything it runs, tmpfs pages included, as memcg
 * charges shmem to the writer) and its process count.
 */
import { readFile, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface KernelCgroupLimits {
  /** Bytes for the whole tree; 0 = no memory limit. */
  memoryBytes: number;
  /** Processes and threads of the whole tree; 0 = no limit. */
  pidsMax: number;
  /** CPUs the whole tree may use (a CFS quota per period, may be fractional); 0 = no limit. */
  cpus: number;
  /** CPUs all the trees of one tenant may use together (its group's quota, above each tree's); 0 = no limit. */
  tenantCpus: number;
}

/** The CFS period a CPU quota is given in (the kernel's default, 100 ms). */
export const CPU_PERIOD_US = 100_000;

/** The quota (µs per CPU_PERIOD_US) for `cpus` CPUs; the kernel's least is 1 ms. */
export function cpuQuotaUs(cpus: number): number {
  return Math.max(1000, Math.round(cpus * CPU_PERIOD_US));
}

export interface KernelCgroup {
  /** The directories the kernel's first process joins (written to their `cgroup.procs`). */
  dirs: string[];
  /** Removes the group once its processes are gone; safe to call twice. */
  remove(): Promise<void>;
  /**
   * Moves the tree's CPU time under its tenant's group (a spare kernel started before anyone
   * took it): from then on it shares the tenant's quota. Absent where the flavour cannot.
   */
  joinTenant?(tenant: string): Promise<void>;
}

export interface Cgroups {
  /** How the log line names it: `cgroup-v1` or `cgroup-v2`. */
  readonly kind: string;
  readonly holdsMemory: boolean;
  readonly holdsPids: boolean;
  readonly holdsCpu: boolean;
  /** A group for one tree; with `tenant`, its CPU time counts toward that tenant's group from the start. */
  create(name: string, limits: KernelCgroupLimits, tenant?: string): Promise<KernelCgroup>;
  /** Removes the sandbox's own parent groups (after every kernel is gone). */
  close(): Promise<void>;
}

/** A cgroup directory whose last process has just exited can refuse rmdir (EBUSY) for a moment. */
export async function removeCgroupDir(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/**
 * Removes a parent group and the kernel groups under it. A kernel's group goes when its
 * tree has ended, but that removal may still be under way when the sandbox stops (or
 * never came, the server having been killed): the parent's rmdir alone would fail then.
 * Processes still in a group (a jail that outlived a killed server) are killed first.
 */
export async function removeGroupTree(dir: string): Promise<void> {
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  await Promise.all(
    children
      .filter((child) => child.isDirectory())
      .map(async (child) => {
        const group = join(dir, child.name);
        const procs = await readFile(join(group, 'cgroup.procs'), 'utf8').catch(() => '');
        for (const pid of procs.split('\n').filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
        // A tenant's group holds kernel groups of its own.
        await removeGroupTree(group).catch(() => {});
      }),
  );
  await removeCgroupDir(dir);
}

/** `/proc/self/cgroup` as controller → path (`''` is the v2 unified hierarchy). */
export async function ownCgroupPaths(procSelfCgroup = '/proc/self/cgroup'): Promise<Map<string, string>> {
  const paths = new Map<string, string>();
  for (const line of (await readFile(procSelfCgroup, 'utf8')).split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    for (const controller of match[1]!.split(',')) paths.set(controller, match[2]!);
  }
  return paths;
}

export interface CgroupMount {
  /** Where the hierarchy is mounted. */
  mountPoint: string;
  /** The cgroup path the mount shows at its top (`/` unless inside a container). */
  root: string;
  fsType: 'cgroup' | 'cgroup2';
  superOptions: string[];
}

/** The cgroup file systems of /proc/self/mountinfo. */
export async function cgroupMounts(mountinfo = '/proc/self/mountinfo'): Promise<CgroupMount[]> {
  const mounts: CgroupMount[] = [];
  for (const line of (await readFile(mountinfo, 'utf8')).split('\n')) {
    const [before, after] = line.split(' - ');
    if (!before || !after) continue;
    const fields = before.split(' ');
    const [fsType, , superOptions] = after.split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    mounts.push({
      mountPoint: unescapeMountField(fields[4]!),
      root: unescapeMountField(fields[3]!),
      fsType,
      superOptions: (superOptions ?? '').split(','),
    });
  }
  return mounts;
}

/** The host directory of our own cgroup in a mounted hierarchy, or undefined if the mount does not show it. */
export function ownDirIn(mount: CgroupMount, ownPath: string): string | undefined {
  const root = mount.root === '/' ? '' : mount.root;
  if (root && ownPath !== root && !ownPath.startsWith(`${root}/`)) return undefined;
  return mount.mountPoint + ownPath.slice(root.length);
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** What follows a sandbox's group name in its tenants' groups beside it (`fc-sandbox-<pid>-tenant-<hash>`). */
export const TENANT_GROUP_MARK = '-tenant-';

const STALE_GROUP = new RegExp(`^fc-sandbox-(\\d+)(?:-\\d+)?(?:${TENANT_GROUP_MARK}[0-9a-f]+)?$`);

/**
 * Removes the empty groups a sandbox that died without closing left under `ownDir`
 * (`fc-sandbox-<pid>` or `fc-sandbox-<pid>-<n>` of a pid that is gone, and their tenants' groups beside them,
 * `…-tenant-<hash>`), so they do not pile up across crashes.
 */
export async function removeStaleGroups(ownDir: string): Promise<void> {
  const entries = await readdir(ownDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const pid = STALE_GROUP.exec(entry.name)?.[1];
    if (!entry.isDirectory() || !pid || isAlive(Number(pid))) continue;
    await removeGroupTree(join(ownDir, entry.name)).catch(() => {});
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
