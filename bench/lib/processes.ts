/**
 * Helpers to start helper processes for a bench and to be sure none outlives it
 * (free ports and finding processes by argument: test/support/processes.ts).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';

/** Sends SIGKILL to each id, ignoring those already gone. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Where bench kernels keep their files (IPython's history database among them):
 * tmpfs when there is one, as the sandbox's kernels have a tmpfs /tmp. On a disk,
 * every execute's history commit waits for an fsync, which is not what we compare.
 */
export function scratchDir(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/** A process's resident memory (VmRSS) in MiB. */
export async function residentMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}
