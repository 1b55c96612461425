/**
 * A disk quota per workspace: each workspace directory is the mount point of its
 * own ext4 image, loop-mounted, of the configured size. Writing past it fails
 * with ENOSPC inside the sandbox and touches nothing else of the host's disk.
 *
 * Sparse images cost nothing until written. No journal (the workspace does not
 * outlive the host's uptime anyway, and it halves mkfs's work) and no blocks
 * reserved for root (the kernel's files may belong to the server's uid, which is
 * root). Needs root: mount(2) and /dev/loop-control.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, open, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TOOL_PATH = '/usr/sbin:/sbin:/usr/bin:/bin';
/** Enough for ext4's own metadata; the trial at start only proves the tools work. */
const TRIAL_MB = 8;

export class LoopDiskQuota {
  readonly kind = 'loop-ext4';
  readonly #imagesDir: string;
  readonly #sizeMb: number;
  /** Workspace directory → its set-up (shared by concurrent kernel starts of one session). */
  readonly #mounted = new Map<string, Promise<void>>();

  private constructor(imagesDir: string, sizeMb: number) {
    this.#imagesDir = imagesDir;
    this.#sizeMb = sizeMb;
  }

  /** A quota keeping its images in `imagesDir`, or undefined where loop mounts do not work (tried once). */
  static async open(imagesDir: string, sizeMb: number): Promise<LoopDiskQuota | undefined> {
    if (process.getuid?.() !== 0 || !existsSync('/dev/loop-control')) return undefined;
    const quota = new LoopDiskQuota(imagesDir, sizeMb);
    const trial = join(imagesDir, `trial-${process.pid}`);
    try {
      await mkdir(imagesDir, { recursive: true, mode: 0o700 });
      await quota.#mount(trial, TRIAL_MB);
      return quota;
    } catch {
      return undefined;
    } finally {
      await unmount(trial).catch(() => {});
      await rm(trial, { recursive: true, force: true });
      await rm(quota.#imageOf(trial), { force: true });
    }
  }

  /** Makes `dir` a mounted workspace of the quota's size (once; an existing image is mounted again, not remade). */
  prepare(dir: string): Promise<void> {
    let mounting = this.#mounted.get(dir);
    if (!mounting) {
      mounting = this.#mount(dir, this.#sizeMb);
      this.#mounted.set(dir, mounting);
      mounting.catch(() => this.#mounted.delete(dir));
    }
    return mounting;
  }

  /** Unmounts the workspace and deletes its image (the session has ended). */
  async release(dir: string): Promise<void> {
    const mounting = this.#mounted.get(dir);
    this.#mounted.delete(dir);
    await mounting?.catch(() => {});
    await unmount(dir);
    await rm(this.#imageOf(dir), { force: true });
  }

  /**
   * Unmounts every workspace (their kernels must be gone). Images stay: a configured
   * workspace root keeps its workspaces across server restarts, and the next start
   * mounts them again; a root of the server's own is removed with them.
   */
  async close(): Promise<void> {
    const dirs = [...this.#mounted.keys()];
    this.#mounted.clear();
    await Promise.allSettled(dirs.map((dir) => unmount(dir)));
  }

  #imageOf(dir: string): string {
    return join(this.#imagesDir, `${basename(dir)}.img`);
  }

  async #mount(dir: string, sizeMb: number): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (await isMountPoint(dir)) return;
    const image = this.#imageOf(dir);
    const fresh = !existsSync(image);
    if (fresh) {
      const file = await open(image, 'wx', 0o600);
      try {
        await file.truncate(sizeMb * 1024 * 1024);
      } finally {
        await file.close();
      }
      await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', 'nodiscard', image], {
        env: { PATH: TOOL_PATH },
      });
    }
    await run('mount', ['-o', 'loop,nosuid,nodev,noatime', image, dir], { env: { PATH: TOOL_PATH } });
    if (fresh) {
      // The workspace should look like the empty directory it replaces.
      await rmdir(join(dir, 'lost+found')).catch(() => {});
      await chmod(dir, 0o700);
    }
  }
}

async function unmount(dir: string): Promise<void> {
  if (!(await isMountPoint(dir))) return;
  // A failure with the mount already gone is success: a session's end and its idle removal can both get here.
  const unlessGone = async (error: unknown) => {
    if (await isMountPoint(dir)) throw error;
  };
  await run('umount', [dir], { env: { PATH: TOOL_PATH } }).catch(async () => {
    if (!(await isMountPoint(dir))) return;
    // Still busy (a process that outlived its kernel): detach now; the loop device goes with its last user.
    await run('umount', ['--lazy', dir], { env: { PATH: TOOL_PATH } }).catch(unlessGone);
  });
}

/** A directory on another device than its parent is a mount point. */
async function isMountPoint(dir: string): Promise<boolean> {
  try {
    const [own, parent] = await Promise.all([stat(dir), stat(dirname(dir))]);
    return own.dev !== parent.dev;
  } catch {
    return false;
  }
}
