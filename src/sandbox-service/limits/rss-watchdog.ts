/**
 * Memory for a whole context where no cgroup is ours (a server without root): a
 * watchdog that sums, every half second, the resident memory of every process
 * descending from each kernel's first process, plus what its private tmpfs mounts
 * (/tmp, /dev/shm) hold, and stops the kernel whose total is over the limit.
 *
 * Weaker than a cgroup: it samples (a burst between two looks can exceed the limit
 * for up to the interval), and it ends the whole kernel rather than the largest
 * process. The launchers' per-process caps stay in force beside it.
 */
import { readdir, readFile, statfs } from 'node:fs/promises';

const INTERVAL_MS = 500;
const TMPFS_MOUNTS = ['/tmp', '/dev/shm'];

interface Watched {
  rootPid: number;
  stop: () => void;
}

export class RssWatchdog {
  readonly #limitBytes: number;
  readonly #watched = new Set<Watched>();
  #timer: NodeJS.Timeout | undefined;
  #sampling = false;

  constructor(limitBytes: number) {
    this.#limitBytes = limitBytes;
  }

  /** Watches the tree under `rootPid` (a host pid) until the returned function is called. */
  watch(rootPid: number, stop: () => void): () => void {
    const entry = { rootPid, stop };
    this.#watched.add(entry);
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.#sample(), INTERVAL_MS);
      this.#timer.unref();
    }
    return () => {
      this.#watched.delete(entry);
      if (this.#watched.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /** Bytes the tree under `rootPid` holds now: resident memory of its processes plus its tmpfs files. */
  static async usage(rootPid: number, table?: ProcessTable): Promise<number> {
    const { children, rss } = table ?? (await processTable());
    const tree = descendants(rootPid, children);
    let total = tree.reduce((sum, pid) => sum + (rss.get(pid) ?? 0), 0);
    // The sandbox's own mounts are seen through a process inside it (the root is outside).
    const inside = tree.find((pid) => pid !== rootPid);
    if (inside !== undefined) {
      for (const mount of TMPFS_MOUNTS) {
        const fs = await statfs(`/proc/${inside}/root${mount}`).catch(() => undefined);
        if (fs) total += (fs.blocks - fs.bfree) * fs.bsize;
      }
    }
    return total;
  }

  async #sample(): Promise<void> {
    if (this.#sampling) return;
    this.#sampling = true;
    try {
      const table = await processTable();
      for (const entry of [...this.#watched]) {
        if ((await RssWatchdog.usage(entry.rootPid, table)) > this.#limitBytes) {
          this.#watched.delete(entry);
          entry.stop();
        }
      }
    } finally {
      this.#sampling = false;
    }
  }
}

/** Bytes each tree holds now (RssWatchdog.usage for each root), from one look at /proc. */
export async function treeUsages(rootPids: readonly number[]): Promise<number[]> {
  if (rootPids.length === 0) return [];
  const table = await processTable();
  return Promise.all(rootPids.map((pid) => RssWatchdog.usage(pid, table)));
}

interface ProcessTable {
  children: Map<number, number[]>;
  rss: Map<number, number>;
}

/** Parent → children and pid → resident bytes, from /proc/<pid>/status. */
async function processTable(): Promise<ProcessTable> {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  await Promise.all(
    pids.map(async (name) => {
      const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
      const ppid = /^PPid:\s+(\d+)/m.exec(status)?.[1];
      if (ppid === undefined) return;
      const pid = Number(name);
      const siblings = children.get(Number(ppid));
      if (siblings) siblings.push(pid);
      else children.set(Number(ppid), [pid]);
      const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
      if (kb) rss.set(pid, Number(kb) * 1024);
    }),
  );
  return { children, rss };
}

function descendants(root: number, children: Map<number, number[]>): number[] {
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}
