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
import { attachNetwork } from './private-network.ts';
import { proxyEnv } from '../egress/proxy-env.ts';

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
 * SIGKILLs whatever is left in the process's cgroups (bounded: 5 s): a process that left the
 * group (`setsid`, a shell's background job) is still in its context's cgroup, where there is one.
 * Where there is none, the session's end takes it (session-uids.ts, endProcessesOf).
 */
async function killCgroupMembers(dirs: string[]): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const pids = dirs.flatMap((dir) => {
      try {
        return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The server names the workspace by its inside path too (a context's cwd, WORKSPACE_DIR): without a
 * mount namespace, that path is a symlink to the workspace of the session that started a process
 * last. One session per instance (FC's sessionConcurrencyPerInstance: 1) is what this mode is for;
 * a real directory at that path is never touched.
 */
export function pointWorkspaceMount(mount: string, workspace: string): void {
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

/**
 * A user namespace (root there is the host uid, nothing more) owning a network namespace of its
 * own, whose loopback a small Python step brings up (SIOCSIFFLAGS) before it execs the command.
 * unshare execs too: the command keeps the spawned pid (slirp4netns finds the namespace by it).
 */
const LOOPBACK_UP = `
import fcntl, os, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH", b"lo", 0)))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
os.execv(sys.argv[1], sys.argv[1:])
`;
const OWN_NETWORK_NAMESPACE = ['/usr/bin/unshare', '--user', '--map-root-user', '--net', '--', '/usr/bin/python3', '-I', '-c', LOOPBACK_UP];

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
  // A spare's is pointed when a context takes it (context-registry.ts).
  if (!options.spare) pointWorkspaceMount(options.workspaceMount, options.workspace);
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
  if (options.ownNetworkNamespace) argv.push(...OWN_NETWORK_NAMESPACE);
  argv.push(...options.command.map((arg) => rewrite(arg, map)));
  const env = Object.fromEntries(Object.entries(options.env).map(([name, value]) => [name, rewrite(value, map)]));
  env.TMPDIR = tmp;
  // Without the jail the proxy is advice (SANDBOX_EGRESS_ADVISORY): its loopback listener, this route's token in the URL.
  const egress = options.egress?.loopbackUrl();
  if (egress) Object.assign(env, proxyEnv(egress.url));

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
  const killTree = async () => {
    if (pgid !== undefined) await killGroup(pgid);
    await killCgroupMembers(options.cgroupDirs ?? []);
  };
  const exited = childExited.then(async (exit) => {
    await killTree();
    rmSync(tmp, { recursive: true, force: true });
    egress?.release();
    return exit;
  });
  // unshare and the loopback step exec the command in the same process: its pid is the namespace's.
  const network = options.ownNetworkNamespace && options.allowNetwork && child.pid !== undefined ? attachNetwork(child.pid) : undefined;
  void exited.then(() => network?.close());
  const networkOrExit = network
    ? Promise.race([
        network.ready,
        childExited.then(() => {
          throw new Error('the process ended before its network was up');
        }),
      ])
    : Promise.resolve();
  networkOrExit.catch(() => {});
  return {
    pid: child.pid ?? -1,
    stdin: pipes ? child.stdin! : undefined,
    stdout: pipes ? child.stdout! : undefined,
    stderr: pipes ? child.stderr! : undefined,
    exited,
    // Without a namespace of its own, the container's network is the process's (nothing to attach).
    network: networkOrExit,
    outputTail: () => tail.trim(),
    async kill() {
      await killTree();
      await exited;
    },
  };
}
