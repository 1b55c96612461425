/**
 * The host's processes and ports as the tests and the benches see them: a free
 * loopback port, stopping a child, and the one walk over /proc that finds what a
 * test or bench started (its descendants, the sandboxes' pid namespaces, processes
 * marked by an argument) so that each can be checked or ended by id.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';

/** A loopback TCP port free right now, for a server that must be told its port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** SIGTERM, then SIGKILL if the child is still there after 5 s; resolves once it has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** One live process as /proc/<pid>/stat describes it. */
export interface HostProcess {
  pid: number;
  ppid: number;
  /** R, S, D, Z (a zombie: ended, its parent has yet to reap it) … */
  state: string;
}

/** Every process on the host right now; those that end while we read are left out. */
export function hostProcesses(): HostProcess[] {
  const processes: HostProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name in parentheses may hold spaces and parentheses: fields start after the last ')'.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      processes.push({ pid: Number(entry), ppid: Number(ppid), state: state! });
    } catch {
      // gone meanwhile
    }
  }
  return processes;
}

/** The pids among these that exist and are not zombies. */
export function stillRunning(pids: number[]): number[] {
  const live = new Set(
    hostProcesses()
      .filter((p) => p.state !== 'Z')
      .map((p) => p.pid),
  );
  return pids.filter((pid) => live.has(pid));
}

/** A process's command line, its arguments joined by `separator`; '' if it is gone. */
export function commandLine(pid: number, separator = ' '): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '').replaceAll('\0', separator);
  } catch {
    return '';
  }
}

/** Every process descended from `root` (only its children with `depth` 1). */
export function descendants(root: number, depth = Infinity): number[] {
  const processes = hostProcesses();
  const found: number[] = [];
  let frontier = [root];
  for (let level = 0; frontier.length && level < depth; level++) {
    const next = processes.filter((p) => frontier.includes(p.ppid)).map((p) => p.pid);
    found.push(...next);
    frontier = next;
  }
  return found;
}

/**
 * Ids of live processes other than this one whose command line contains `marker` (a
 * path unique to this run, such as a temporary directory), so that kernels a server
 * launched in their own sessions can be found and ended by id, never by a broad name.
 */
export function pidsWithArgument(marker: string): number[] {
  return hostProcesses()
    .map((p) => p.pid)
    .filter((pid) => pid !== process.pid && commandLine(pid, '\0').includes(marker));
}

/** The pid namespace of a process, e.g. `pid:[4026532301]`; undefined if it is gone. */
export function pidNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/**
 * The pid namespaces of the sandboxes this test process started: every kernel runs
 * in its own, and everything it spawns (even a daemonised grandchild) stays in it.
 */
export function sandboxNamespaces(): Set<string> {
  const own = pidNamespace(process.pid);
  const namespaces = new Set<string>();
  for (const pid of descendants(process.pid)) {
    const namespace = pidNamespace(pid);
    if (namespace && namespace !== own) namespaces.add(namespace);
  }
  return namespaces;
}

/** Host pids of the processes living in any of these pid namespaces (zombies, already dead, left out). */
export function processesIn(namespaces: Set<string>): number[] {
  return hostProcesses()
    .filter((p) => p.state !== 'Z')
    .map((p) => p.pid)
    .filter((pid) => {
      const namespace = pidNamespace(pid);
      return namespace !== undefined && namespaces.has(namespace);
    });
}
