/**
 * A context's cwd outside the workspace (E2B lets code run in `/root`, say). The jail's root
 * is read-only, so such a directory becomes a private tmpfs of the context's kernel, capped
 * like its /tmp (memory, bounded by the context's limit): writable, empty at start, gone
 * with the kernel. It may not cover or sit inside anything the jail mounts (system
 * directories, /etc, /proc, /dev, the kernel's run directory, the workspace), so it can
 * neither hide nor replace what the kernel relies on.
 */
import { posix } from 'node:path';
import { SYSTEM_DIRS } from '../jail/bubblewrap.ts';

/** Everything the jails mount (bubblewrap.ts, the launchers' extra binds under /run and /opt). */
const JAIL_MOUNTS = [...SYSTEM_DIRS, '/etc', '/proc', '/dev', '/run', '/opt', '/sys'];

export class ScratchCwdError extends Error {}

const within = (path: string, dir: string) => path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);

/**
 * The tmpfs a context with this cwd needs, or undefined when the cwd lies in the workspace
 * or the private /tmp (places every kernel can already write). `cwd` is absolute and normalised.
 */
export function scratchDirFor(cwd: string, workspaceMount: string): string | undefined {
  if (within(cwd, workspaceMount) || within(cwd, '/tmp')) return undefined;
  const clash = [...JAIL_MOUNTS, workspaceMount].find((mount) => within(cwd, mount) || within(mount, cwd));
  if (clash !== undefined) {
    throw new ScratchCwdError(
      `cwd "${cwd}" ${within(cwd, clash) ? 'is inside' : 'would cover'} ${clash}, which the sandbox mounts read-only or for itself; use a directory under ${workspaceMount}, /tmp, or elsewhere (e.g. /root)`,
    );
  }
  return cwd;
}

/** The cwd as given, made canonical (`/root/../x/` → `/x`). */
export function normalCwd(cwd: string): string {
  const normal = posix.normalize(cwd);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}
