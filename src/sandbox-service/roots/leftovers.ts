/**
 * What a sandbox leaves on the host, and how it is taken back. A workspace root holds
 * loop-mounted workspace images (`sessions/<id>` on `disks/<id>.img`), the run root's
 * tmpfs (`run/`) and, in the cgroup hierarchies, `fc-sandbox-<pid>`. A clean stop
 * undoes each in turn (index.ts); what it could not undo in time, or what a server
 * killed outright (SIGKILL, OOM killer) left, is swept here from the host's own
 * records: /proc/self/mountinfo for the mounts, /sys/block for the loop devices.
 *
 * Each root carries an owner file naming the process that uses it (pid, its start
 * time and the boot). At start a sandbox reclaims every root whose owner is gone,
 * and never one whose owner lives, nor one without an owner file (being set up, or
 * not a sandbox's): two sandboxes on one host leave each other alone.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TOOL_PATH = '/usr/sbin:/sbin:/usr/bin:/bin';
const OWNER_FILE = '.owner';
/** What a configured root keeps (it is the operator's directory); a root of the sandbox's own goes whole. */
const SANDBOX_PARTS = ['sessions', 'run', 'disks', OWNER_FILE];

export interface RootOwner {
  pid: number;
  /** /proc/<pid>/stat's start time (clock ticks since boot): tells a reused pid from its first holder. */
  start: string;
  /** /proc/sys/kernel/random/boot_id: after a reboot nobody holds the root, whatever the pid. */
  boot: string;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may hold spaces: fields start after the last ')'; start time is field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** This process as an owner file records it. */
export function currentOwner(): RootOwner {
  return { pid: process.pid, start: startTimeOf(process.pid) ?? '', boot: bootId() };
}

/** True while the recorded process runs (same boot, same pid, same start time). */
export function ownerAlive(owner: RootOwner): boolean {
  return owner.boot === bootId() && startTimeOf(owner.pid) === owner.start;
}

/** Marks `root` as this process's (written before anything is mounted in it). */
export async function claimRoot(root: string): Promise<void> {
  await writeFile(join(root, OWNER_FILE), `${JSON.stringify(currentOwner())}\n`, { mode: 0o600 });
}

/** The owner file's record, or undefined when there is none (or it cannot be read). */
export async function readOwner(root: string): Promise<RootOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(join(root, OWNER_FILE), 'utf8')) as RootOwner;
    return Number.isInteger(owner.pid) && typeof owner.start === 'string' && typeof owner.boot === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The mount points at or under `root`, deepest first (the order they must go in). */
export function mountsUnder(root: string, mountinfo = '/proc/self/mountinfo'): string[] {
  const points = new Set<string>();
  for (const line of readFileSync(mountinfo, 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const point = unescapeMountField(field);
    if (point === root || point.startsWith(`${root}/`)) points.add(point);
  }
  return [...points].sort((a, b) => b.split('/').length - a.split('/').length || b.length - a.length);
}

/** Loop devices whose backing file is under `root` (shown with " (deleted)" once the image is unlinked). */
export function loopDevicesUnder(root: string): string[] {
  const devices: string[] = [];
  let names: string[];
  try {
    names = readdirSync('/sys/block').filter((name) => name.startsWith('loop'));
  } catch {
    return devices;
  }
  for (const name of names) {
    try {
      const backing = readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim();
      if (backing.startsWith(`${root}/`)) devices.push(`/dev/${name}`);
    } catch {
      // not attached
    }
  }
  return devices;
}

/**
 * Takes down what the sandbox set up in `root`: every mount under it (unmounted, or
 * detached where something still holds it: the loop device then goes with its last
 * user), the loop devices left attached, and the root itself (`removeRoot`) or, for a
 * configured root, only the sandbox's parts of it. Never throws: it is the last resort.
 * Returns what it could not remove, for the caller's log line.
 */
export async function sweepRoot(root: string, { removeRoot }: { removeRoot: boolean }): Promise<string[]> {
  for (const point of mountsUnder(root)) {
    await run('umount', [point], { env: { PATH: TOOL_PATH } }).catch(() =>
      run('umount', ['--lazy', point], { env: { PATH: TOOL_PATH } }).catch(() => {}),
    );
  }
  // `mount -o loop` sets autoclear, so an unmounted image's device detaches itself; this is for one that did not.
  for (const device of loopDevicesUnder(root)) await run('losetup', ['-d', device], { env: { PATH: TOOL_PATH } }).catch(() => {});
  const targets = removeRoot ? [root] : SANDBOX_PARTS.map((part) => join(root, part));
  await Promise.all(targets.map((target) => rm(target, { recursive: true, force: true }).catch(() => {})));
  const left = mountsUnder(root).map((point) => `mount ${point}`);
  return left;
}

/**
 * Reclaims the roots dead sandboxes left: each directory `<prefix>*` (the default roots,
 * e.g. /tmp/fc-ci-sandbox-*) whose owner file names a process that is gone. Returns the
 * roots reclaimed.
 */
export async function reclaimDeadRoots(prefix: string): Promise<string[]> {
  const parent = dirname(prefix);
  const stem = basename(prefix);
  const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
  const reclaimed: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(stem)) continue;
    const root = join(parent, entry.name);
    const owner = await readOwner(root);
    if (!owner || ownerAlive(owner)) continue;
    await sweepRoot(root, { removeRoot: true });
    reclaimed.push(root);
  }
  return reclaimed;
}

/**
 * Before a sandbox uses a configured root: refuses one a live sandbox holds, and sweeps
 * what a dead one left there. True when something was reclaimed.
 */
export async function reclaimConfiguredRoot(root: string): Promise<boolean> {
  const owner = await readOwner(root);
  if (!owner) return false;
  if (ownerAlive(owner)) {
    throw new Error(`the workspace root ${root} is in use by a running sandbox (pid ${owner.pid}); give each sandbox its own`);
  }
  await sweepRoot(root, { removeRoot: false });
  return true;
}
