/**
 * What a sandbox holds on the host under its workspace root, seen from outside: mounts,
 * loop devices backed by its images, processes that hold a workspace of it (kernels, file
 * workers) and session workspaces on disk. Tests compare it before
 * and after, so a session that outlives its contexts shows. Not a test file itself.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { hostProcesses, pidsWithArgument } from './processes.ts';

export interface HostHoldings {
  mounts: string[];
  loopDevices: string[];
  processes: number[];
  workspaces: string[];
}

export function holdings(workspaceRoot: string): HostHoldings {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${join(workspaceRoot, 'sessions')}/`));
  const loopDevices = readdirSync('/sys/block')
    .filter((name) => name.startsWith('loop'))
    .filter((name) => {
      try {
        return readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').startsWith(`${workspaceRoot}/`);
      } catch {
        return false; // not attached
      }
    });
  let workspaces: string[] = [];
  try {
    workspaces = readdirSync(join(workspaceRoot, 'sessions'));
  } catch {
    // no session was ever made
  }
  const sessions = join(workspaceRoot, 'sessions');
  const held = new Set([...pidsWithArgument(sessions), ...pidsMounting(sessions, loopDevices)]);
  return { mounts, loopDevices, processes: [...held].sort((a, b) => a - b), workspaces };
}

/**
 * Processes in another mount namespace that mount a workspace: a bind of a path under
 * `sessions`, or one of its loop devices. A jailed process's command line no longer names
 * its workspace (bwrap reads its options from a pipe), but its mounts still do.
 */
function pidsMounting(sessions: string, loopDevices: string[]): number[] {
  const ownNamespace = mountNamespace(process.pid);
  const sources = new Set(loopDevices.map((name) => `/dev/${name}`));
  return hostProcesses()
    .filter((p) => p.state !== 'Z' && p.pid !== process.pid)
    .map((p) => p.pid)
    .filter((pid) => {
      const namespace = mountNamespace(pid);
      if (!namespace || namespace === ownNamespace) return false;
      try {
        return readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
          .split('\n')
          .some((line) => {
            const fields = line.split(' ');
            // Field 4 is the mount's root within its filesystem; the source follows the ' - ' separator.
            const source = fields[fields.indexOf('-') + 2] ?? '';
            return (fields[3] ?? '').startsWith(`${sessions}/`) || sources.has(source);
          });
      } catch {
        return false; // gone meanwhile
      }
    });
}

function mountNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

export function isEmpty(held: HostHoldings): boolean {
  return held.mounts.length + held.loopDevices.length + held.processes.length + held.workspaces.length === 0;
}
