/**
 * The one place that decides what a kernel can see: the bubblewrap (and prlimit)
 * command line shared by every language's launcher.
 *
 * Inside: the system directories read-only, a curated part of /etc (no shadow
 * files, no machine secrets), a private /tmp, the session's workspace read-write
 * at `workspaceMount`, the kernel's run directory read-write at `runMount`, and
 * nothing else of the host. All namespaces are unshared, the network's too (when
 * allowed, egress goes through slirp4netns: private-network.ts); the environment is
 * cleared and replaced by `env`; the process tree dies with the server. Hardened as container runtimes are by default: /proc's
 * host-wide knobs read-only and its secrets masked, /dev read-only but for a
 * capped /dev/shm, no inherited fds, no nested user namespaces, a seccomp filter,
 * and (a root server) an unprivileged host uid per session. docs/security.md
 * lists what that promises.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { chmod, chown, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jailEnabled } from './jail-mode.ts';
import type { KernelExit } from './jail-command.ts';
import { attachNetwork, type PrivateNetwork } from './private-network.ts';
import { spawnUnjailed } from './unjailed-process.ts';
import { EGRESS_SOCKET_MOUNT, EGRESS_SOCKET_NAME, proxyEnv, withEgressBridge } from '../egress/proxy-env.ts';
import { JAIL_UID, type JailCommandOptions, type JailedProcess, RUN_MOUNT } from './jail-command.ts';

/** Read-only system trees; missing ones are skipped (`--ro-bind-try`). */
export const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * The parts of /etc programs need (dynamic linker, users for getpwuid, certificates,
 * fonts, matplotlib, Python's site config). Not the whole of /etc: it holds
 * shadow files and machine secrets the code has no business reading.
 */
const ETC_ENTRIES = [
  'alternatives',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'passwd',
  'group',
  'nsswitch.conf',
  'localtime',
  'timezone',
  'mime.types',
  'ssl',
  'ca-certificates',
  'fonts',
  'matplotlibrc',
  'python3',
  'python3.11',
  'python3.12',
  'python3.13',
  // R's own configuration (Renviron, Rprofile.site, repositories): R contexts.
  'R',
  'host.conf',
  'gai.conf',
  'protocols',
  'services',
];
/** Only useful (and only bound) when the network is allowed. */
const ETC_NETWORK_ENTRIES = ['hosts', 'resolv.conf'];

/**
 * /dev/shm's cap: Docker's default shm-size. POSIX shared memory and multiprocessing's
 * semaphores live there; tmpfs pages are memory outside RLIMIT_AS, so the cap is kept
 * small rather than set to the whole memory limit (cgroup memory, where there is one,
 * counts them too).
 */
const SHM_MAX_MB = 64;

/** /proc entries container runtimes make read-only: host-wide knobs (sysctls, sysrq, irq affinity). */
const PROC_READ_ONLY = ['sys', 'sysrq-trigger', 'irq', 'bus', 'fs'];
/** /proc files that tell about the host kernel's memory, keys and scheduling: /dev/null over them (as runc does). */
const PROC_MASKED_FILES = ['kcore', 'keys', 'timer_list', 'timer_stats', 'sched_debug', 'latency_stats'];
/** /proc directories runc hides under an empty read-only tmpfs. */
const PROC_MASKED_DIRS = ['acpi', 'asound', 'scsi'];

/**
 * The fds a jail's first process keeps besides 0-2: bwrap's info pipe, the seccomp program
 * and the pipe bwrap reads its arguments from (bwrap closes the last two once read).
 */
const INFO_FD = 3;
const SECCOMP_FD = 4;
const ARGS_FD = 5;

/**
 * Closes every fd above 2 but `keep`, then execs the rest of the command line. Node marks
 * only the fds it opened, and those up to 15 it inherited, close-on-exec; whatever else the
 * server inherited (a supervisor's pipe) would reach every kernel, and neither bwrap nor
 * util-linux has a close-fds option.
 */
function closeInheritedFds(keep: number[]): string[] {
  const kept = [0, 1, 2, ...keep].join('|');
  const script = `for fd in /proc/self/fd/*; do fd=\${fd##*/}; case $fd in ${kept}) ;; *) eval "exec $fd>&-" ;; esac; done; exec "$@"`;
  // --norc: with a socket for stdin (a jail spawned with pipes) bash takes itself for rshd's and
  // would run the server's own ~/.bashrc here, on the host, before the jail.
  return ['/bin/bash', '--norc', '-c', script, 'close-inherited-fds'];
}

/**
 * Builds `[file, ...args]` for spawn(), one stage execing the next: close inherited fds,
 * drop to the jail's host uid, prlimit (so the limit covers bwrap and all it starts),
 * bwrap, the command; and bwrap's own arguments, which it reads from ARGS_FD (`--args`).
 * A stage that must run as the server (e.g. joining cgroups) goes first. Spawn it with an
 * empty env, fd 3 a pipe for bwrap's info, with a seccompFilter fd 4 open on that file,
 * and fd 5 a pipe the arguments are written to (spawnJailed does all that).
 *
 * Why --args: bwrap's init is pid 1 inside, and a process's command line is readable to
 * its namespace (/proc/1/cmdline): on the command line, every --bind would show the code
 * the host paths of the workspace root, the run root and the project.
 */
function jailCommand(options: JailCommandOptions): { command: [string, ...string[]]; bwrapArgs: string[] } {
  const argv = closeInheritedFds(options.seccompFilter ? [INFO_FD, SECCOMP_FD, ARGS_FD] : [INFO_FD, ARGS_FD]);
  // Joined by the shell itself (still the server, root), so every process of the tree is born inside the limits.
  if (options.cgroupDirs?.length) {
    const join = 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"';
    argv.push('/bin/sh', '-c', join, 'sh', ...options.cgroupDirs, '--');
  }
  if (options.hostUid !== undefined) {
    const id = String(options.hostUid);
    argv.push('/usr/bin/setpriv', '--reuid', id, '--regid', id, '--clear-groups', '--');
  }
  if (options.memoryMb > 0) {
    const bytes = options.memoryMb * 1024 * 1024;
    argv.push('/usr/bin/prlimit', `--as=${bytes}`, '--');
  }
  // bwrap reads options only from the pipe: the command stays on its command line (paths inside only).
  argv.push('/usr/bin/bwrap', '--args', String(ARGS_FD), '--', ...options.command);
  return { command: argv as [string, ...string[]], bwrapArgs: bwrapArguments(options) };
}

/** bwrap's options, as it reads them from ARGS_FD (the command follows `--args FD --` on its command line). */
function bwrapArguments(options: JailCommandOptions): string[] {
  const argv = ['--info-fd', String(INFO_FD)];
  if (options.seccompFilter) argv.push('--seccomp', String(SECCOMP_FD));
  // The network namespace stays private even with the network allowed: egress goes through
  // slirp4netns (private-network.ts), so no kernel's channels are reachable from another jail.
  argv.push('--unshare-all');
  // Without these, a root caller's sandbox runs as uid 0 with every capability of its user
  // namespace (mknod, mount, ptrace, DAC override on the binds). The jail's host uid maps to
  // JAIL_UID inside, so the workspace stays writable and files on the host stay that uid's.
  // --disable-userns: no nested user namespace, the door most recent kernel escalations used.
  const uid = String(options.uid ?? JAIL_UID);
  argv.push(
    '--unshare-user',
    ...(options.disableUserns === false ? [] : ['--disable-userns']),
    '--uid',
    uid,
    '--gid',
    uid,
    '--cap-drop',
    'ALL',
  );
  argv.push('--die-with-parent', '--new-session', '--clearenv');
  for (const dir of SYSTEM_DIRS) argv.push('--ro-bind-try', dir, dir);
  const etc = options.allowNetwork ? [...ETC_ENTRIES, ...ETC_NETWORK_ENTRIES] : ETC_ENTRIES;
  for (const entry of etc) {
    const path = `/etc/${entry}`;
    if (existsSync(path)) argv.push('--ro-bind', path, path);
  }
  argv.push('--proc', '/proc', ...procHardening());
  // bwrap's /dev is a tmpfs of half the host's RAM: only /dev/shm stays writable, capped.
  const shmMb = options.shmSizeMb ?? (options.memoryMb > 0 ? Math.min(options.memoryMb, SHM_MAX_MB) : SHM_MAX_MB);
  argv.push('--dev', '/dev', '--size', String(shmMb * 1024 * 1024), '--tmpfs', '/dev/shm', '--remount-ro', '/dev');
  if (options.tmpSizeMb) argv.push('--size', String(options.tmpSizeMb * 1024 * 1024));
  argv.push('--tmpfs', '/tmp');
  for (const dir of options.scratchDirs ?? []) {
    if (options.tmpSizeMb) argv.push('--size', String(options.tmpSizeMb * 1024 * 1024));
    argv.push('--tmpfs', dir);
  }
  argv.push('--bind', options.workspace, options.workspaceMount);
  argv.push('--bind', options.runDir, RUN_MOUNT);
  argv.push(...(options.extraArgs ?? []));
  // bwrap's root is a tmpfs: writable (and unbounded memory) unless made read-only after every mount on it.
  argv.push('--remount-ro', '/');
  argv.push('--chdir', options.workspaceMount);
  for (const [name, value] of Object.entries(options.env)) argv.push('--setenv', name, value);
  return argv;
}

/**
 * What runc does to /proc by default. bwrap 0.8 itself only makes /proc/irq and /proc/bus
 * read-only (it skips /proc/sys: its writability check runs as the sandbox user), which
 * left the host's sysctls writable to a root server's kernels. The read-only binds come
 * from the host's /proc: sysctls resolve their namespace from the reader, not the mount.
 */
function procHardening(): string[] {
  const args: string[] = [];
  for (const entry of PROC_READ_ONLY) {
    if (existsSync(`/proc/${entry}`)) args.push('--ro-bind', `/proc/${entry}`, `/proc/${entry}`);
  }
  for (const entry of PROC_MASKED_FILES) {
    if (existsSync(`/proc/${entry}`)) args.push('--ro-bind', '/dev/null', `/proc/${entry}`);
  }
  for (const entry of PROC_MASKED_DIRS) {
    if (existsSync(`/proc/${entry}`)) args.push('--tmpfs', `/proc/${entry}`, '--remount-ro', `/proc/${entry}`);
  }
  return args;
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
    // Caches (fontconfig's, pip's) stay out of the workspace: it holds the user's files only.
    XDG_CACHE_HOME: '/tmp/.cache',
    TERM: 'dumb',
  };
}

const TAIL_BYTES = 4096;
/** How long a kill waits for bwrap to report its init's pid before it kills the outer bwrap instead. */
const INIT_REPORT_MS = 2_000;

/**
 * Spawns `jailCommand(options)` with an empty environment. bwrap reports the host
 * pid of the sandbox's init (the first process of its pid namespace) on fd 3; killing
 * that init makes the kernel kill every process in the namespace (forked, daemonised,
 * whatever) and reap them before the init is gone, after which the outer bwrap exits.
 * So once `exited` resolves, nothing of the sandbox is left.
 */
export function spawnJailed(options: JailCommandOptions, { pipes = false }: { pipes?: boolean } = {}): JailedProcess {
  // Started with the jail off (jail-mode.ts): the same launch without namespaces.
  if (!jailEnabled()) return spawnUnjailed(options, { pipes });
  // A context's way out (egress/): the policy proxy on a socket of this jail's own, bridged inside.
  const egressSocket = options.egress ? join(options.runDir, EGRESS_SOCKET_NAME) : undefined;
  const egress = egressSocket ? options.egress!.listenUnix(egressSocket, options.hostUid) : undefined;
  const jailed = egress
    ? {
        ...options,
        env: { ...options.env, ...proxyEnv() },
        extraArgs: [...(options.extraArgs ?? []), '--bind', egressSocket!, EGRESS_SOCKET_MOUNT],
        command: withEgressBridge(options.command, EGRESS_SOCKET_MOUNT, options.uid === 0),
      }
    : options;
  let spawned: JailedProcess;
  try {
    spawned = spawnInJail(jailed, pipes);
  } catch (error) {
    egress?.close();
    throw error;
  }
  if (egress) void spawned.exited.then(() => egress.close());
  return spawned;
}

function spawnInJail(options: JailCommandOptions, pipes: boolean): JailedProcess {
  const {
    command: [file, ...args],
    bwrapArgs,
  } = jailCommand(options);
  // The child gets its own copy of the filter's fd; ours is closed right after the spawn.
  const seccomp = options.seccompFilter ? openSync(options.seccompFilter, 'r') : undefined;
  let child: ReturnType<typeof spawn>;
  try {
    const stdio: StdioOptions = [pipes ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe', seccomp ?? 'ignore', 'pipe'];
    // A session of its own: a signal to the server's process group (a service manager's or
    // container engine's stop, Ctrl-C) must not kill the jails under the server, which stops
    // them itself, in order, before it unmounts their workspaces. --die-with-parent still
    // takes every jail down should the server be killed outright.
    child = spawn(file, args, { env: {}, stdio, detached: true });
  } finally {
    if (seccomp !== undefined) closeSync(seccomp);
  }
  // NUL-terminated, as bwrap's --args reads them; the end of the pipe ends the list.
  const argsPipe = (child.stdio as unknown as NodeJS.WritableStream[])[ARGS_FD]!;
  argsPipe.on('error', () => {}); // a jail that failed before reading: its exit says why
  argsPipe.end(Buffer.from(bwrapArgs.map((arg) => `${arg}\0`).join(''), 'utf8'));
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
  };
  if (!pipes) child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let info = '';
  let initPid: number | undefined;
  let network: PrivateNetwork | undefined;
  let networkUp: (ready: Promise<void>) => void = () => {};
  const networkReady = options.allowNetwork ? new Promise<void>((resolve) => (networkUp = resolve)) : Promise.resolve();
  // Settles with the init's pid once bwrap has reported it, or undefined once bwrap can no longer.
  let reportInit: (pid: number | undefined) => void = () => {};
  const initReported = new Promise<number | undefined>((resolve) => (reportInit = resolve));
  const infoStream = child.stdio[INFO_FD] as NodeJS.ReadableStream;
  infoStream.on('data', (chunk: Buffer) => {
    info += chunk.toString('utf8');
    const match = /"child-pid"\s*:\s*(\d+)/.exec(info);
    if (match && initPid === undefined) {
      initPid = Number(match[1]);
      reportInit(initPid);
      if (options.allowNetwork) {
        network = attachNetwork(initPid);
        networkUp(network.ready);
      }
    }
  });
  infoStream.on('error', () => reportInit(initPid));
  infoStream.once('close', () => reportInit(initPid));
  /** The init's pid, once bwrap has reported it (bounded: INIT_REPORT_MS); undefined if it never does. */
  const reportedInit = async () => initPid ?? (await Promise.race([initReported, sleep(INIT_REPORT_MS, undefined, { ref: false })]));
  const bwrapExited = new Promise<KernelExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  // When the command ends on its own, bwrap's init reports its status and the outer bwrap exits
  // at once, while the init may still be taking the rest of the namespace down (measured: socat
  // processes of a Deno kernel still alive right after). The init is gone, or a zombie, only once
  // every other process of its namespace has been reaped.
  const exited = bwrapExited.then(async (exit) => {
    // The report may still be in the pipe when the exit is seen.
    const init = await reportedInit();
    if (init !== undefined) await untilGone(init);
    network?.close();
    return exit;
  });
  const networkOrExit = Promise.race([
    networkReady,
    bwrapExited.then(() => {
      if (options.allowNetwork && !network) throw new Error('the jail ended before its network was up');
    }),
  ]);
  networkOrExit.catch(() => {});
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid ?? -1,
    stdin: pipes ? child.stdin! : undefined,
    stdout: pipes ? child.stdout! : undefined,
    stderr: pipes ? child.stderr! : undefined,
    network: networkOrExit,
    exited,
    outputTail: () => tail.trim(),
    async kill() {
      if (!running()) return void (await exited);
      // The init goes first, and so bwrap's report of its pid is waited for: the outer bwrap
      // killed before it had reported left the init running (under the host's pid 1, its
      // --die-with-parent not armed yet) with the command: 1 kill in 10 within a start's first
      // 15 ms here (jail-kill.test.ts). The report comes in milliseconds; bounded all the same.
      const init = await reportedInit();
      if (init !== undefined) {
        try {
          process.kill(init, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      // No report (bwrap failed before its init, or is stuck): the outer bwrap, whose
      // --die-with-parent takes an init down; and a fallback should the init not end.
      const fallback = setTimeout(() => running() && child.kill('SIGKILL'), init === undefined ? 0 : 2_000);
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

/**
 * Before the jail starts under `hostUid`: its run directory and `files` in it become that
 * uid's, so the kernel can bind its sockets (and read its connection file) there.
 */
export async function lendRunDir(runDir: string, hostUid: number | undefined, files: string[] = []): Promise<void> {
  if (hostUid === undefined) return;
  for (const path of [runDir, ...files.map((file) => join(runDir, file))]) await chown(path, hostUid, hostUid);
}

/**
 * Once the kernel's sockets exist: the run directory goes back to the server (mode 0700),
 * so code under the jail's uid can neither remove nor replace the sockets the server
 * connects to. Then checks that each is a socket of the jail's uid (not a symlink the code
 * planted before). Without a hostUid the code is the server's uid and could chmod the
 * directory back: there the server's refusal to reconnect (kernel-connection.ts) holds.
 */
export async function sealRunDir(runDir: string, hostUid: number | undefined, sockets: string[]): Promise<void> {
  if (hostUid !== undefined) {
    await chown(runDir, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    await chmod(runDir, 0o700);
  }
  for (const name of sockets) {
    const entry = await lstat(join(runDir, name));
    if (!entry.isSocket() || (hostUid !== undefined && entry.uid !== hostUid)) {
      throw new Error(`the kernel's ${name} is not its own socket`);
    }
  }
}
