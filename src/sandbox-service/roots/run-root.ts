/**
 * The kernels' run directories (sockets, connection files) live under one run root.
 * A jail binds its run directory from there, and /proc/self/mountinfo inside shows a
 * bind's source as its path within its filesystem: on the host's disk that path names
 * the workspace root. A root server therefore makes the run root a small tmpfs of its
 * own, whose binds show as `/<uuid>`. Without root (no mount), or where mounting
 * fails, the run root stays a plain directory and the path shows.
 */
import { execFile } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Sockets and small connection files only. */
const RUN_ROOT_SIZE = '16m';

export interface RunRoot {
  path: string;
  /** True when it is a tmpfs of its own. */
  mounted: boolean;
  /** Unmounts it (its kernels must be gone); a plain directory is left to its owner. */
  close(): Promise<void>;
}

export async function mountRunRoot(path: string, { asRoot }: { asRoot: boolean }): Promise<RunRoot> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  let mounted = false;
  if (asRoot) {
    // A sandbox that died without closing leaves its tmpfs mounted: use it again.
    mounted = await isMountPoint(path);
    if (!mounted) {
      mounted = await run('mount', [
        '-t',
        'tmpfs',
        '-o',
        `size=${RUN_ROOT_SIZE},mode=0700,nosuid,nodev,noexec`,
        'fc-sandbox-run',
        path,
      ]).then(
        () => true,
        () => false,
      );
    }
  }
  let closing: Promise<void> | undefined;
  return {
    path,
    mounted,
    close: () =>
      (closing ??= mounted
        ? run('umount', ['--lazy', path]).then(
            () => undefined,
            () => undefined,
          )
        : Promise.resolve()),
  };
}

async function isMountPoint(path: string): Promise<boolean> {
  const [own, parent] = await Promise.all([stat(path), stat(dirname(path))]);
  return own.dev !== parent.dev;
}
