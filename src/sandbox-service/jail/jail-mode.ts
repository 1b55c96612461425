/**
 * Whether kernels run in the bubblewrap jail or, where the runtime lets no process create
 * namespaces (a container runtime may forbid them; FC's is not documented either way),
 * directly under their session's uid (unjailed-process.ts). Decided once at start from
 * SANDBOX_JAIL (`auto`: the jail when a probe shows namespaces work, else, for a root server,
 * kernels under session uids; `on`: the jail or no start; `off`: never the jail) and said in
 * the start line.
 *
 * Process-wide on purpose: every spawn of the sandbox (kernels, file workers) goes through
 * bubblewrap.ts's spawnJailed, and one sandbox service runs per process.
 */
import { spawn } from 'node:child_process';
import { attachNetwork } from './private-network.ts';
import { FIRST_SESSION_UID } from './session-uids.ts';

export const JAIL_SETTINGS = ['auto', 'on', 'off'] as const;
export type JailSetting = (typeof JAIL_SETTINGS)[number];

export interface JailDecision {
  jailed: boolean;
  /** The start line: what holds the kernels in this mode. */
  line: string;
}

let jailed = true;

/** True unless the sandbox was started with the jail off (the default: the jail). */
export function jailEnabled(): boolean {
  return jailed;
}

/** Thrown for a bad SANDBOX_JAIL, or `on` where namespaces do not work. */
export class JailSettingError extends Error {
  override name = 'JailSettingError';
}

/** SANDBOX_JAIL's value (unset or empty = auto). */
export function parseJailSetting(value: string | undefined): JailSetting {
  const setting = (value ?? '').trim().toLowerCase() || 'auto';
  if (!(JAIL_SETTINGS as readonly string[]).includes(setting)) {
    throw new JailSettingError(`SANDBOX_JAIL: expected one of ${JAIL_SETTINGS.join(', ')} (got "${value}")`);
  }
  return setting as JailSetting;
}

/**
 * Can this process start the jail? Runs bwrap as the jail runs it (unshared namespaces, a new
 * user namespace, its own /proc and /dev; as an unprivileged uid when the server is root)
 * around /bin/true.
 */
export function probeNamespaces(): Promise<{ ok: boolean; reason: string }> {
  const [file, ...args] = probeCommand(['/bin/true']);
  return new Promise((resolve) => {
    let stderr = '';
    const child = spawn(file as string, args, { env: {}, stdio: ['ignore', 'ignore', 'pipe'], cwd: '/' });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-500);
    });
    child.once('error', (error) => resolve({ ok: false, reason: error.message }));
    child.once('exit', (code, signal) =>
      resolve(
        code === 0
          ? { ok: true, reason: 'bwrap created its namespaces' }
          : { ok: false, reason: stderr.trim().split('\n').at(-1) || `bwrap exited with ${signal ?? code}` },
      ),
    );
  });
}

/**
 * With the network allowed: can a jail get its way out? Starts the probe's jail around a sleep
 * and attaches slirp4netns to its network namespace as a kernel's jail gets it. A container
 * runtime may let the jail start yet not this (no /dev/net/tun; root there cannot enter a
 * namespace owned by a session uid's user namespace without more capabilities).
 */
export function probeJailNetwork(): Promise<{ ok: boolean; reason: string }> {
  const INFO_FD = 3;
  const [file, ...args] = probeCommand(['/bin/sleep', '10'], ['--info-fd', String(INFO_FD)]);
  return new Promise((resolve) => {
    const child = spawn(file as string, args, { env: {}, stdio: ['ignore', 'ignore', 'pipe', 'pipe'], cwd: '/' });
    let stderr = '';
    let info = '';
    let settled = false;
    const settle = (result: { ok: boolean; reason: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(result);
    };
    const timer = setTimeout(() => settle({ ok: false, reason: 'no network within 10 s' }), 10_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-500);
    });
    (child.stdio[INFO_FD] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
      info += chunk.toString('utf8');
      const match = /"child-pid"\s*:\s*(\d+)/.exec(info);
      if (!match || settled) return;
      const network = attachNetwork(Number(match[1]));
      network.ready.then(
        () => settle({ ok: true, reason: 'slirp4netns gave the jail its network' }),
        // One line for the start line: what slirp4netns (or its joining step) said last.
        (error: Error) => settle({ ok: false, reason: `slirp4netns: ${error.message.trim().split('\n').at(-1)}` }),
      );
      void network.ready.catch(() => {}).finally(() => network.close());
    });
    child.once('error', (error) => settle({ ok: false, reason: error.message }));
    child.once('exit', (code, signal) =>
      settle({ ok: false, reason: stderr.trim().split('\n').at(-1) || `bwrap exited with ${signal ?? code}` }),
    );
  });
}

/** bwrap as the jail runs it (as an unprivileged uid when the server is root) around `command`. */
function probeCommand(command: string[], bwrapOptions: string[] = []): string[] {
  const asRoot = process.getuid?.() === 0;
  const uid = String(FIRST_SESSION_UID - 1);
  // A fresh /proc too: a runtime that masks parts of its own /proc (podman's default) lets a user
  // namespace unshare but not mount a proc, and the jail needs one.
  const bwrap = [
    '/usr/bin/bwrap',
    ...bwrapOptions,
    '--unshare-all',
    '--unshare-user',
    '--die-with-parent',
    '--ro-bind',
    '/',
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--',
    ...command,
  ];
  return asRoot ? ['/usr/bin/setpriv', '--reuid', uid, '--regid', uid, '--clear-groups', '--', ...bwrap] : bwrap;
}

const OFF =
  'kernels run without namespaces, each session under its own unprivileged uid, with the limits below; no private network, /tmp or mounts, no seccomp filter of ours: ' +
  "tenants are kept apart by the platform (one session per instance, s.yaml's sessionConcurrencyPerInstance: 1)";

/** How many failed network probes in a row make auto give up the jail. */
const NETWORK_PROBES = 3;

/**
 * The network probe, given NETWORK_PROBES tries: one failure can be a passing hiccup (seen under
 * load: "slirp4netns: child failed(1)"). Where the runtime really forbids it (no /dev/net/tun),
 * each try fails at once.
 */
export async function probeJailNetworkInTries(probe = probeJailNetwork): Promise<{ ok: boolean; reason: string }> {
  let network = await probe();
  for (let attempt = 1; !network.ok && attempt < NETWORK_PROBES; attempt++) network = await probe();
  return network;
}

/** Decides the mode (probing unless forced off), records it for spawnJailed and returns the start line. */
export async function decideJail(
  setting: JailSetting,
  probe = probeNamespaces,
  asRoot = process.getuid?.() === 0,
  /** Given when the network is allowed: whether a jail gets its way out here. */
  networkProbe?: () => Promise<{ ok: boolean; reason: string }>,
): Promise<JailDecision> {
  if (setting === 'off') {
    jailed = false;
    return { jailed, line: `sandbox jail: off (SANDBOX_JAIL=off): ${OFF}` };
  }
  const { ok, reason } = await probe();
  if (!ok && setting === 'on') {
    throw new JailSettingError(`SANDBOX_JAIL=on, but this runtime lets no process create namespaces (${reason})`);
  }
  // Unjailed, only a root server keeps sessions apart (a uid each); a user's server would run
  // every kernel as itself: that takes an explicit SANDBOX_JAIL=off.
  if (!ok && !asRoot) {
    throw new JailSettingError(
      `this runtime lets no process create namespaces (${reason}) and the sandbox is not root, so kernels would run as its own uid: set SANDBOX_JAIL=off to accept that`,
    );
  }
  if (ok && networkProbe) {
    // In auto a failed probe's price is every kernel without the jail: only failures in a row decide.
    const network = await probeJailNetworkInTries(networkProbe);
    if (!network.ok) {
      const why = `the network is allowed, but a jail cannot get it here (${network.reason})`;
      if (setting === 'on') {
        throw new JailSettingError(
          `SANDBOX_JAIL=on, but ${why}: give the runtime /dev/net/tun and the capabilities slirp4netns needs, or set SANDBOX_JAIL=off`,
        );
      }
      if (!asRoot)
        throw new JailSettingError(
          `${why}, and the sandbox is not root, so kernels would run as its own uid: set SANDBOX_JAIL=off to accept that`,
        );
      jailed = false;
      return { jailed, line: `sandbox jail: off (${why}): ${OFF}` };
    }
  }
  jailed = ok;
  return ok
    ? { jailed, line: 'sandbox jail: bubblewrap (namespaces work here: user, mount, pid, network, ipc, uts; seccomp; a uid per session)' }
    : { jailed, line: `sandbox jail: off (no namespaces here: ${reason}): ${OFF}` };
}
