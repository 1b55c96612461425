/**
 * The jail's stand-in where namespaces cannot be made (jail-mode.ts): the same launch
 * (bubblewrap.ts's JailCommandOptions) run directly, under the session's unprivileged
 * uid (setpriv, no new privileges), with the per-process memory cap (prlimit) and the
 * context's cgroup where the host offers one. What the jail would have mounted is reached
 * at its host path instead: the workspace is the working directory and HOME, the run
 * directory and read-only binds are named by their host paths, and /tmp is a directory of
 * the process's own (removed when it ends). Without a pid namespace, the process group
 * stands for the tree: killing the jail kills the group.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { randomUUID } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import type { JailCommandOptions, JailedProcess } from './jail-command.ts';
import type { KernelExit } from './jail-command.ts';

/** Where the jail shows a kernel its run directory (bubblewrap.ts's RUN_MOUNT; not imported: that module imports this one). */
const RUN_MOUNT = '/run/kernel';
const TAIL_BYTES = 4096;

type PathMap = Array<[inside: string, host: string]>;

/** Inside paths → host paths, longest first (the jail's mounts, as this process sees them). */
function pathMap(options: JailCommandOptions, tmp: string): PathMap {
  const map: PathMap = [
    [options.workspaceMount, options.workspace],
    [RUN_MOUNT, options.runDir],
    ['/tmp', tmp],
  ];
  const extra = options.extraArgs ?? [];
  for (let i = 0; i < extra.length; i++) {
    if ((extra[i] === '--ro-bind' || extra[i] === '--bind') && extra[i + 2] !== undefined) {
      map.push([extra[i + 2] as string, extra[i + 1] as string]);
      i += 2;
    }
  }
  return map.sort((a, b) => b[0].length - a[0].length);
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Rewrites every inside path that stands alone (as an argument, a value, a quoted string) to
 * its host path, in one pass: a host path is never rewritten again (it may start with /tmp).
 */
function rewrite(text: string, map: PathMap): string {
  const hostOf = new Map(map);
  const alternatives = map.map(([inside]) => escapeRegExp(inside)).join('|');
  return text.replace(new RegExp(`(?<=^|[\\s="':])(${alternatives})(?=$|[\\s/"':])`, 'g'), (inside) => hostOf.get(inside) ?? inside);
}

/** Every pid whose process group is `pgid` (from /proc). */
function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirNumbers('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function readdirNumbers(dir: string): string[] {
  return readdirSync(dir).filter((name) => /^\d+$/.test(name));
}

/** SIGKILLs the group until none of it is left (bounded: 5 s). */
async function killGroup(pgid: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // no process left in the group
    }
    if (groupMembers(pgid).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The server names the workspace by its inside path too (a context's cwd, WORKSPACE_DIR): without a
 * mount namespace, that path is a symlink to the workspace of the session that started a process
 * last. One session per instance (FC's sessionConcurrencyPerInstance: 1) is what this mode is for;
 * a real directory at that path is never touched.
 */
function pointWorkspaceMount(mount: string, workspace: string): void {
  try {
    if (!lstatSync(mount).isSymbolicLink() || readlinkSync(mount) === workspace) return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return;
  }
  mkdirSync(dirname(mount), { recursive: true, mode: 0o755 });
  const staged = `${mount}.${randomUUID()}`;
  symlinkSync(workspace, staged);
  renameSync(staged, mount);
}

export function spawnUnjailed(options: JailCommandOptions, { pipes = false }: { pipes?: boolean } = {}): JailedProcess {
  // Beside the run root, under the workspace root: <root>/tmp/<run directory's name>.
  const tmp = join(dirname(dirname(options.runDir)), 'tmp', basename(options.runDir));
  // The parent is only passed through (like the workspace root): each uid sees its own directory alone.
  mkdirSync(dirname(tmp), { recursive: true, mode: 0o711 });
  chmodSync(dirname(tmp), 0o711);
  mkdirSync(tmp, { mode: 0o700 });
  if (options.hostUid !== undefined) {
    chownSync(tmp, options.hostUid, options.hostUid);
  }
  pointWorkspaceMount(options.workspaceMount, options.workspace);
  const map = pathMap(options, tmp);
  // A connection file names the kernel's sockets by their inside path.
  const connection = join(options.runDir, 'connection.json');
  if (existsSync(connection)) writeFileSync(connection, rewrite(readFileSync(connection, 'utf8'), map));

  const argv: string[] = [];
  if (options.cgroupDirs?.length) {
    const join = 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"';
    argv.push('/bin/sh', '-c', join, 'sh', ...options.cgroupDirs, '--');
  }
  if (options.hostUid !== undefined) {
    const id = String(options.hostUid);
    argv.push('/usr/bin/setpriv', '--reuid', id, '--regid', id, '--clear-groups', '--no-new-privs', '--');
  } else {
    argv.push('/usr/bin/setpriv', '--no-new-privs', '--');
  }
  if (options.memoryMb > 0) argv.push('/usr/bin/prlimit', `--as=${options.memoryMb * 1024 * 1024}`, '--');
  argv.push(...options.command.map((arg) => rewrite(arg, map)));
  const env = Object.fromEntries(Object.entries(options.env).map(([name, value]) => [name, rewrite(value, map)]));
  env.TMPDIR = tmp;

  const [file, ...args] = argv as [string, ...string[]];
  // Its own process group (detached): the group is what kill() ends. Only 0-2 are passed on.
  const child = spawn(file, args, { env, cwd: options.workspace, detached: true, stdio: [pipes ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
  };
  if (!pipes) child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const pgid = child.pid;
  const childExited = new Promise<KernelExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  // As with the jail's pid namespace: when the command ends, whatever it started ends with it.
  const exited = childExited.then(async (exit) => {
    if (pgid !== undefined) await killGroup(pgid);
    rmSync(tmp, { recursive: true, force: true });
    return exit;
  });
  return {
    pid: child.pid ?? -1,
    stdin: pipes ? child.stdin! : undefined,
    stdout: pipes ? child.stdout! : undefined,
    stderr: pipes ? child.stderr! : undefined,
    exited,
    // No namespace of its own: the container's network is the kernel's (nothing to attach).
    network: Promise.resolve(),
    outputTail: () => tail.trim(),
    async kill() {
      if (pgid !== undefined) await killGroup(pgid);
      await exited;
    },
  };
}
