/**
 * The one place that decides what a kernel can see: the bubblewrap (and prlimit)
 * command line shared by every language's launcher.
 *
 * Inside: the system directories read-only, a curated part of /etc (no shadow
 * files, no machine secrets), a private /tmp, the session's workspace read-write
 * at `workspaceMount`, the kernel's run directory read-write at `runMount`, and
 * nothing else of the host. All namespaces are unshared (the network too, unless
 * allowed); the environment is cleared and replaced by `env`; the process tree
 * dies with the server.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { KernelExit } from './kernel-launch.ts';

/** Read-only system trees; missing ones are skipped (`--ro-bind-try`). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * The parts of /etc programs need (dynamic linker, users for getpwuid, certificates,
 * fonts, matplotlib, Python's site config). Not the whole of /etc: it holds
 * shadow files and machine secrets the code has no business reading.
 */
const ETC_ENTRIES = [
  'alternatives', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'passwd', 'group', 'nsswitch.conf',
  'localtime', 'timezone', 'mime.types', 'ssl', 'ca-certificates', 'fonts', 'matplotlibrc',
  'python3', 'python3.11', 'python3.12', 'python3.13', 'host.conf', 'gai.conf', 'protocols', 'services',
];
/** Only useful (and only bound) when the network is allowed. */
const ETC_NETWORK_ENTRIES = ['hosts', 'resolv.conf'];

/** The unprivileged user code runs as, inside. */
export const SANDBOX_UID = 1000;

/** Where the kernel's run directory (sockets, connection file) appears inside. Not under /tmp: the private /tmp is a fresh tmpfs that would hide it. */
export const RUN_MOUNT = '/run/kernel';

export interface SandboxCommandOptions {
  /** Host path of the session's workspace, the only persistent writable place. */
  workspace: string;
  /** Where the workspace appears inside (also the working directory). */
  workspaceMount: string;
  /** Host path of the kernel's private run directory; appears at RUN_MOUNT. */
  runDir: string;
  /** Address-space limit for every process of the kernel, in MiB (0 = none). */
  memoryMb: number;
  allowNetwork: boolean;
  /** The complete environment inside; nothing of the server's is inherited. */
  env: Record<string, string>;
  /** The program and its arguments, as seen inside. */
  command: string[];
  /** Size cap of the private /tmp (a tmpfs, so it is memory), in MiB; unset = tmpfs default. */
  tmpSizeMb?: number;
  /**
   * The uid (and gid) inside; default SANDBOX_UID. A launcher that needs a capability for
   * its own set-up (--cap-add) must use 0, as bwrap hands capabilities to uid 0 only, and
   * drop them before running code.
   */
  uid?: number;
  /** bwrap arguments a launcher adds after the common mounts (more binds, capabilities, --info-fd). */
  extraArgs?: string[];
  /** cgroup directories the first process joins before anything else runs (the context's limits). */
  cgroupDirs?: string[];
}

/**
 * Builds `[file, ...args]` for spawn(): prlimit (so the limit covers bwrap and all it
 * starts) then bwrap then the command. Spawn it with an empty env as well.
 */
export function sandboxCommand(options: SandboxCommandOptions): [string, ...string[]] {
  const argv: string[] = [];
  // Joined by the spawned shell itself, so every process of the tree is born inside the limits.
  if (options.cgroupDirs?.length) {
    const join = 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"';
    argv.push('/bin/sh', '-c', join, 'sh', ...options.cgroupDirs, '--');
  }
  if (options.memoryMb > 0) {
    const bytes = options.memoryMb * 1024 * 1024;
    argv.push('prlimit', `--as=${bytes}`, '--');
  }
  argv.push('bwrap', '--unshare-all');
  if (options.allowNetwork) argv.push('--share-net');
  // Without these, a root caller's sandbox runs as uid 0 with every capability of its user
  // namespace (mknod, mount, ptrace, DAC override on the binds). The server's uid maps to
  // SANDBOX_UID inside, so the workspace stays writable and files on the host stay the server's.
  const uid = String(options.uid ?? SANDBOX_UID);
  argv.push('--unshare-user', '--uid', uid, '--gid', uid, '--cap-drop', 'ALL');
  argv.push('--die-with-parent', '--new-session', '--clearenv');
  for (const dir of SYSTEM_DIRS) argv.push('--ro-bind-try', dir, dir);
  const etc = options.allowNetwork ? [...ETC_ENTRIES, ...ETC_NETWORK_ENTRIES] : ETC_ENTRIES;
  for (const entry of etc) {
    const path = `/etc/${entry}`;
    if (existsSync(path)) argv.push('--ro-bind', path, path);
  }
  argv.push('--proc', '/proc', '--dev', '/dev');
  if (options.tmpSizeMb) argv.push('--size', String(options.tmpSizeMb * 1024 * 1024));
  argv.push('--tmpfs', '/tmp');
  argv.push('--bind', options.workspace, options.workspaceMount);
  argv.push('--bind', options.runDir, RUN_MOUNT);
  argv.push(...(options.extraArgs ?? []));
  // bwrap's root is a tmpfs: writable (and unbounded memory) unless made read-only after every mount on it.
  argv.push('--remount-ro', '/');
  argv.push('--chdir', options.workspaceMount);
  for (const [name, value] of Object.entries(options.env)) argv.push('--setenv', name, value);
  argv.push('--', ...options.command);
  return argv as [string, ...string[]];
}

/**
 * The baseline environment of every kernel: enough for programs to behave, nothing
 * of the server's. Launchers add their own (e.g. where IPython keeps its files).
 */
export function baseKernelEnv(workspaceMount: string): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: workspaceMount,
    USER: 'user',
    LOGNAME: 'user',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TMPDIR: '/tmp',
    TERM: 'dumb',
  };
}

export interface SandboxedProcess {
  pid: number;
  /** Resolves when the outer bwrap has exited; with --unshare-pid the whole tree is gone then. */
  exited: Promise<KernelExit>;
  /** The last few KiB the process wrote to stdout/stderr, for launch errors. */
  outputTail(): string;
  /** SIGKILLs the tree (bwrap's pid namespace takes every descendant with it) and waits for it. */
  kill(): Promise<void>;
}

const TAIL_BYTES = 4096;

/**
 * Spawns `sandboxCommand(options)` with an empty environment. bwrap reports the host
 * pid of the sandbox's init (the first process of its pid namespace) on fd 3; killing
 * that init makes the kernel kill every process in the namespace (forked, daemonised,
 * whatever) and reap them before the init is gone, after which the outer bwrap exits.
 * So once `exited` resolves, nothing of the sandbox is left.
 */
export function spawnSandboxed(options: SandboxCommandOptions): SandboxedProcess {
  const [file, ...args] = sandboxCommand(options);
  const bwrapAt = args.indexOf('bwrap');
  const withInfo = [...args.slice(0, bwrapAt + 1), '--info-fd', '3', ...args.slice(bwrapAt + 1)];
  const child = spawn(file, withInfo, { env: {}, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let info = '';
  let initPid: number | undefined;
  const infoStream = child.stdio[3] as NodeJS.ReadableStream;
  infoStream.on('data', (chunk: Buffer) => {
    info += chunk.toString('utf8');
    const match = /"child-pid"\s*:\s*(\d+)/.exec(info);
    if (match) initPid = Number(match[1]);
  });
  infoStream.on('error', () => {});
  const bwrapExited = new Promise<KernelExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  // When the command ends on its own, bwrap's init reports its status and the outer bwrap exits
  // at once, while the init may still be taking the rest of the namespace down (measured: socat
  // processes of a Deno kernel still alive right after). The init is gone, or a zombie, only once
  // every other process of its namespace has been reaped.
  const exited = bwrapExited.then(async (exit) => {
    if (initPid !== undefined) await untilGone(initPid);
    return exit;
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid ?? -1,
    exited,
    outputTail: () => tail.trim(),
    async kill() {
      if (!running()) return void (await exited);
      if (initPid !== undefined) {
        try {
          process.kill(initPid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      // Without the init's pid (still starting) the outer bwrap goes first; --die-with-parent
      // then takes the init down. A fallback too, should the init not end.
      const fallback = setTimeout(() => running() && child.kill('SIGKILL'), initPid === undefined ? 0 : 2_000);
      await exited;
      clearTimeout(fallback);
    },
  };
}

/** Polls /proc until the process is gone or a zombie (bounded: 5 s). */
async function untilGone(pid: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    let state: string;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    if (/\) Z /.test(state)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
