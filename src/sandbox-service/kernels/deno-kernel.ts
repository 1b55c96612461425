/**
 * Starts Deno's built-in Jupyter kernel (JavaScript and TypeScript) under bubblewrap.
 *
 * What Deno 2.9's kernel does on the wire (measured against `deno jupyter --kernel`; the server
 * relies on these facts):
 * - One kernel for both languages: `kernel_info` says `typescript`; plain JavaScript is valid input,
 *   TypeScript syntax (types, interfaces) is accepted and NOT type-checked. Top-level `const` may be
 *   redeclared across executes (REPL semantics).
 * - `console.log` / `console.error` arrive as iopub `stream` (`stdout` / `stderr`). Bytes written
 *   to `Deno.stdout` directly do not reach iopub at all (they go to the process's own stdout).
 * - A top-level expression's value arrives as `execute_result` with only `text/plain`, rendered by
 *   `Deno.inspect` WITH ANSI colour codes (`\x1b[33m42\x1b[39m`; strings keep their quotes, double
 *   or single); NO_COLOR does not change that. Strip them. `Deno.jupyter.html`...`` gives
 *   `text/html` as execute_result; `Deno.jupyter.display(bundle, { raw: true })` gives display_data.
 * - A thrown Error arrives as iopub `error` with plain `ename`/`evalue` and a `traceback` of plain
 *   lines (`["TypeError: boom", "    at <anonymous>:1:28"]`), no ANSI codes. `throw "x"` gives
 *   ename `Error`, evalue `x`, traceback `[""]`.
 * - A SYNTAX error sends no iopub `error` at all: only an `execute_reply` with status `error`,
 *   ename `Error`, evalue `Execution failed`, empty traceback (the parser's message is not sent).
 * - `interrupt_request` on the control channel is answered and DOES stop a synchronous
 *   `while (true) {}`: the execute then ends like a syntax error (reply only, `Execution failed`,
 *   no iopub `error`), and the context keeps its variables. It does NOT end an execution that
 *   awaits (`await new Promise(() => {})`, `while (true) { await 0 }`): the reply comes, the
 *   execution goes on and the kernel stays busy. A timeout must then restart (kill) the kernel.
 * - Ordering is not Jupyter's usual one: the iopub `execute_result` may come AFTER the shell
 *   `execute_reply` and even after iopub `status: idle` (1 in 300 trivial executes here). Reply +
 *   idle does not mean "all output is in" for a result.
 * - The kernel refuses an `ipc` connection file (TCP only) and has no permission flags:
 *   `deno jupyter` always runs with --allow-all (Deno's docs; `--allow-*`/`--deny-*` are
 *   rejected as unknown arguments). Bubblewrap is therefore the only barrier.
 *
 * Isolation: the kernel runs in its own network namespace (also with allowNetwork: egress then
 * goes through slirp4netns, see private-network.ts; also with the jail off, where unshare makes
 * it, or JavaScript contexts are refused), listening on 127.0.0.1 there; socat processes inside the same sandbox bridge each port to a unix socket in
 * runDir, which the server reaches from outside as `ipc://<runDir>/<channel>`. Once they listen,
 * runDir is unmounted inside (the code cannot replace them); that takes CAP_SYS_ADMIN, which bwrap
 * grants to uid 0 only, so this sandbox runs as uid 0 of its user namespace (still the jail's
 * host uid outside, like JAIL_UID) and every process it starts has an empty capability set. On top
 * of the common sandbox: the deno binary and the connection file, read-only.
 *
 * Memory: RLIMIT_AS is useless for V8 (it reserves tens of GiB of address space; Deno needs an
 * address-space limit of 64 GiB just to start). The limit is V8's heap cap
 * (`--max-old-space-size=memoryMb`) plus RLIMIT_DATA at memoryMb + DATA_OVERHEAD_MB (the idle
 * kernel's writable mappings, VmData, are ~1.22 GiB whatever the heap cap: thread stacks, V8's
 * own areas), which bounds ArrayBuffers and other native allocations too. Past either limit the
 * kernel dies (V8 fatal OOM, exit 133) and `exited` resolves. The private /tmp (memory) is capped
 * at memoryMb as well. cgroups would bound resident memory exactly but are not available to an
 * unprivileged or FC deployment, so they are not used.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { link, mkdir, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import path from 'node:path';
import * as zmq from 'zeromq';
import { baseKernelEnv } from '../jail/bubblewrap.ts';
import { RUN_MOUNT, type JailCommandOptions } from '../jail/jail-command.ts';
import { jailEnabled } from '../jail/jail-mode.ts';
import { FIRST_SESSION_UID } from '../jail/session-uids.ts';
import { startJailedKernel, type StartCheck } from './jailed-kernel.ts';
import { DENO_PACKAGES_DIR } from '../packages/package-env.ts';
import { CHANNELS, type Channel, type KernelLauncher, type KernelLaunchOptions } from './kernel-launch.ts';

/** Where the connection file, the deno binary and the private DENO_DIR appear inside the sandbox. */
const CONNECTION_MOUNT = '/run/connection.json';
export const DENO_MOUNT = '/opt/deno/deno';
/**
 * In the workspace (its disk quota): the npm packages install_packages caches there import in the
 * running kernel as `npm:name` without a network (packages/npm-command.ts), and survive a restart.
 */
export const DENO_DIR = DENO_PACKAGES_DIR;
/** Ports inside the kernel's own network namespace: nothing else lives there. */
const PRIVATE_PORTS = [5555, 5556, 5557, 5558, 5559];
/** V8 reserves writable memory beyond its heap; measured: Deno fails to start below ~600 MiB of RLIMIT_DATA. */
export const DATA_OVERHEAD_MB = 1280;
/**
 * As Python's: a Deno start takes a few seconds, but on a busy host (two test files at once
 * on 2 cores) one missed 15 s.
 */
const READY_TIMEOUT_MS = 30_000;
/** Unix socket paths are limited to 107 bytes on Linux. */
const MAX_SOCKET_PATH = 107;

/**
 * The Deno binary from the `deno` npm package's platform package (so no Node shim is
 * involved): an optional dependency of this package, which npm installs for the platform.
 */
export function resolveDenoBinary(): string {
  const platformPackage = `@deno/${process.platform}-${process.arch}${process.platform === 'linux' ? '-glibc' : ''}`;
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve(`${platformPackage}/package.json`)), 'deno');
  } catch {
    // npm leaves an optional dependency out where it has no build for the platform, or when told to (--omit=optional).
    throw new Error(
      `Deno (${platformPackage}) is not installed: it comes with this package's optional dependency deno (npm install without --omit=optional)`,
    );
  }
}

export const launchDenoKernel: KernelLauncher = async (options) => {
  const runDir = path.resolve(options.runDir);
  if (Buffer.byteLength(path.join(runDir, 'control')) > MAX_SOCKET_PATH) {
    throw new Error(`runDir is too long for unix socket paths (${MAX_SOCKET_PATH} bytes at most): ${runDir}`);
  }
  // Every jail has a network namespace of its own, the network allowed or not: fixed ports will do.
  // Without the jail (jail-mode.ts) the kernel gets one too (ownNetworkNamespace), or does not run:
  // on the container's loopback its ports were every session's to subscribe to.
  if (!jailEnabled()) await assertOwnNetworkNamespace();
  const portOf = Object.fromEntries(CHANNELS.map((channel, i) => [channel, PRIVATE_PORTS[i]])) as Record<Channel, number>;
  // Beside the run root, not in it: a root server's run root is a tmpfs, where a hard link cannot go.
  const deno = await neutralDenoBinary(path.join(path.dirname(path.dirname(runDir)), 'bin'));
  return startJailedKernel({
    name: 'Deno',
    connection: {
      transport: 'tcp',
      ip: '127.0.0.1',
      kernel_name: 'deno',
      ...Object.fromEntries(CHANNELS.map((channel) => [`${channel}_port`, portOf[channel]])),
    },
    sandbox: denoSandboxOptions(options, runDir, portOf, deno),
    // The launcher unmounts runDir inside once socat listens; sealing it too keeps one rule for both kernels.
    socketName: (channel) => channel,
    startTimeoutMs: READY_TIMEOUT_MS,
    ready: async (endpoints, check) => {
      await Promise.all(CHANNELS.map((channel) => listensBehindBridge(channel, endpoints[channel], check)));
      await heartbeat(endpoints.hb, check);
    },
  });
};

/** The common sandbox (bubblewrap.ts) plus what Deno's bridge needs. */
function denoSandboxOptions(
  options: KernelLaunchOptions,
  runDir: string,
  portOf: Record<Channel, number>,
  denoBinary: string,
): JailCommandOptions {
  const dataLimit = (options.memoryMb + DATA_OVERHEAD_MB) * 1024 * 1024;
  // Runs as the sandbox's root with CAP_SYS_ADMIN only until the sockets are listening: it then
  // unmounts runDir, so the kernel's code can neither remove nor replace the sockets the server
  // connects to (the listening sockets live on), and everything it starts runs with no
  // capabilities at all (an empty bounding set leaves root nothing on exec).
  // Without the jail (jail-mode.ts) there is no mount to undo: the run directory is sealed from
  // outside (jailed-kernel.ts) once the sockets exist. The capabilities to drop are those of root
  // in the user namespace that owns the kernel's network namespace.
  const jailed = jailEnabled();
  const noCaps = '/usr/bin/setpriv --bounding-set=-all --inh-caps=-all --';
  // The sockets get their mode from the umask as bind() makes them: socat's mode= option chmods
  // them afterwards, by path, and the umount below (once every socket exists) could come between
  // the two; that socat then failed and its channel never answered (1 Deno start in 30 in the image).
  // The kernel gets the umask back: the code's files keep the usual modes.
  const script = [
    'set -e',
    'umask_before=$(umask)',
    'umask 077',
    ...CHANNELS.map((channel) => `${noCaps} /usr/bin/socat UNIX-LISTEN:${RUN_MOUNT}/${channel},fork TCP:127.0.0.1:${portOf[channel]} &`),
    `while ! { ${CHANNELS.map((channel) => `[ -S ${RUN_MOUNT}/${channel} ]`).join(' && ')}; }; do sleep 0.005; done`,
    ...(jailed ? [`/usr/bin/umount --lazy ${RUN_MOUNT}`] : []),
    'umask "$umask_before"',
    `exec ${noCaps} /usr/bin/prlimit --data=${dataLimit} -- ${DENO_MOUNT} jupyter --kernel --conn ${CONNECTION_MOUNT}`,
  ].join('\n');

  return {
    hostUid: options.hostUid,
    spare: options.spare,
    // umount2 stays allowed for the launcher's one umount; the code has no capability to use it.
    seccompFilter: options.seccomp?.codeWithUmount,
    // The umount below needs CAP_SYS_ADMIN over the mount namespace, which a nested user
    // namespace would not give; the filter denies new user namespaces to the code instead.
    disableUserns: false,
    workspace: path.resolve(options.workspace),
    workspaceMount: options.workspaceMount,
    runDir,
    // No address-space limit: V8 cannot start under one (see the top of this file); the script sets RLIMIT_DATA.
    memoryMb: 0,
    cgroupDirs: options.cgroupDirs,
    allowNetwork: options.allowNetwork,
    egress: options.egress,
    env: {
      ...baseKernelEnv(options.workspaceMount),
      DENO_DIR,
      DENO_NO_UPDATE_CHECK: '1',
      DENO_NO_PROMPT: '1',
      DENO_V8_FLAGS: `--max-old-space-size=${options.memoryMb}`,
      ...options.env,
    },
    tmpSizeMb: options.memoryMb,
    scratchDirs: options.scratchDirs,
    // CAP_SYS_ADMIN for the umount below is only granted to uid 0; setpriv then drops every capability.
    uid: 0,
    extraArgs: [
      '--ro-bind',
      denoBinary,
      DENO_MOUNT,
      // The kernel reads its connection file here: runDir itself is unmounted before it starts.
      '--ro-bind',
      path.join(runDir, 'connection.json'),
      CONNECTION_MOUNT,
      '--cap-add',
      'CAP_SYS_ADMIN',
      // setpriv needs CAP_SETPCAP to empty the bounding set (the common command drops ALL first).
      '--cap-add',
      'CAP_SETPCAP',
    ],
    command: ['/bin/sh', '-c', script],
    ownNetworkNamespace: true,
  };
}

let ownNetworkNamespace: Promise<void> | undefined;

/**
 * Without the jail: throws, saying why, unless this runtime lets an unprivileged uid make a user
 * and network namespace (podman's default does; a runtime may not). Probed once, at the first
 * JavaScript or TypeScript context.
 */
function assertOwnNetworkNamespace(): Promise<void> {
  ownNetworkNamespace ??= new Promise<void>((resolve, reject) => {
    const unshare = ['/usr/bin/unshare', '--user', '--map-root-user', '--net', '--', '/bin/true'];
    // As a session's uid would (a root server's kernels run under one).
    const uid = String(FIRST_SESSION_UID - 1);
    const asSession = process.getuid?.() === 0 ? ['/usr/bin/setpriv', '--reuid', uid, '--regid', uid, '--clear-groups', '--'] : [];
    const [file, ...args] = [...asSession, ...unshare] as [string, ...string[]];
    execFile(file, args, { env: {} }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const why = stderr.trim().split('\n').at(-1) || error.message;
      reject(
        new Error(
          `JavaScript and TypeScript contexts need a network namespace of their own with the jail off (Deno's kernel listens only on loopback TCP, where every session of this instance could reach it), and this runtime gives none (${why}): use Python, R or bash here`,
        ),
      );
    });
  });
  return ownNetworkNamespace;
}

/**
 * Deno listens on a channel's port once a connection through its bridge hears ZeroMQ's greeting
 * (ZMTP 3: both peers send it at once; it starts with 0xFF). socat accepts as soon as it listens,
 * and its connection to the port fails while Deno has not bound it: a connection the server made
 * then (through its relay, kernel-relay.ts) would drop, and a dropped connection is a dead
 * kernel. Deno binds its five ports one after the other, so the heartbeat alone proves one.
 */
async function listensBehindBridge(channel: Channel, endpoint: string, check: StartCheck): Promise<void> {
  const socketPath = endpoint.slice('ipc://'.length);
  while (true) {
    check(`ZeroMQ greeting on ${channel}`);
    if (await greets(socketPath)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Connects, and resolves true at a first byte of 0xFF (false when the bridge closes first, or after a while). */
export function greets(socketPath: string, timeoutMs = 200): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    const done = (heard: boolean) => {
      socket.destroy();
      resolve(heard);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('data', (chunk: Buffer) => done(chunk[0] === 0xff));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

/**
 * Ready = the kernel echoes a heartbeat through the bridge (socat listens before the kernel
 * does). Each try gets its own socket: a REQ socket whose bridged connection dropped (the
 * kernel not yet listening behind socat) would otherwise wait forever for its lost reply.
 */
async function heartbeat(hbEndpoint: string, check: StartCheck): Promise<void> {
  while (true) {
    check('heartbeat');
    const hb = new zmq.Request({ linger: 0, receiveTimeout: 100, sendTimeout: 100 });
    try {
      hb.connect(hbEndpoint);
      await hb.send('ping');
      const [echo] = await hb.receive();
      if (echo?.toString() === 'ping') return;
    } catch {
      // not up yet
    } finally {
      hb.close();
    }
  }
}

/** bwrap arguments that show a jail started with `runDir` the deno binary at DENO_MOUNT (read-only). */
export async function denoBinaryArgs(runDir: string): Promise<string[]> {
  return ['--ro-bind', await neutralDenoBinary(path.join(path.dirname(path.dirname(path.resolve(runDir))), 'bin')), DENO_MOUNT];
}

/**
 * The deno binary as the jail binds it: a hard link in `binDir` (`<workspaceRoot>/bin/deno`) when
 * the project is on the same filesystem, so /proc/self/mountinfo inside (which shows a bind
 * source's path within its filesystem) names no project path. Elsewhere, the binary itself.
 */
async function neutralDenoBinary(binDir: string): Promise<string> {
  const source = resolveDenoBinary();
  const linked = path.join(binDir, 'deno');
  try {
    await mkdir(binDir, { recursive: true, mode: 0o711 });
    const [want, have] = await Promise.all([stat(source), stat(linked).catch(() => undefined)]);
    if (have && have.ino === want.ino && have.dev === want.dev) return linked;
    if (have) await rm(linked, { force: true });
    await link(source, linked).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    return linked;
  } catch {
    return source; // another filesystem, or not ours to link (protected_hardlinks)
  }
}
