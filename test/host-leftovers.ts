/**
 * What a sandbox holds on the host under its workspace root, seen from outside: mounts,
 * loop devices backed by its images, processes whose command line names a workspace
 * of it (kernels, file workers) and session workspaces on disk. Tests compare it before
 * and after, so a session that outlives its contexts shows. Not a test file itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidsWithArgument } from './processes.ts';

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
  return { mounts, loopDevices, processes: pidsWithArgument(join(workspaceRoot, 'sessions')), workspaces };
}

export function isEmpty(held: HostHoldings): boolean {
  return held.mounts.length + held.loopDevices.length + held.processes.length + held.workspaces.length === 0;
}
