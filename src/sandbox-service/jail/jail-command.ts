/**
 * What a command run in the jail is given and what it gives back: the shapes both ways
 * of running it share, in the bubblewrap jail (bubblewrap.ts) or without one
 * (unjailed-process.ts, where the platform is the jail).
 */

import type { EgressRoute } from '../egress/context-egress.ts';

/** The unprivileged user code runs as, inside. */
export const JAIL_UID = 1000;

/** Where the kernel's run directory (sockets, connection file) appears inside. Not under /tmp: the private /tmp is a fresh tmpfs that would hide it. */
export const RUN_MOUNT = '/run/kernel';

/** How a jailed process (a kernel's outermost one, a file worker) ended. */
export interface KernelExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export function describeExit(exit: KernelExit): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit code ${exit.code ?? 'unknown'}`;
}

/** Where a jailed command's files are and what it may reach: a kernel launch gives the same fields (kernel-launch.ts). */
export interface JailPlacement {
  /** Host path of the session's workspace: the only persistent writable place besides a private /tmp. Seen inside as the context's cwd. */
  workspace: string;
  /** Path the workspace appears at inside the jail (e.g. /home/user); also the working directory there. */
  workspaceMount: string;
  /** Host directory private to this kernel for sockets and the connection file (inside at RUN_MOUNT); removed by kill(). */
  runDir: string;
  /** cgroup directories the jail's first process joins before anything else runs, so the context's limits hold the kernel's whole tree. */
  cgroupDirs?: string[];
  /** Egress through slirp4netns (private-network.ts); either way the kernel has a network namespace of its own. */
  allowNetwork: boolean;
  /**
   * The context's way out through the policy proxy (egress/): the jail gets a unix socket of its own
   * served under the route's policy, a bridge to it on its loopback and the proxy variables
   * (proxy-env.ts). Unset: no way out but allowNetwork's.
   */
  egress?: EgressRoute;
  /**
   * The unprivileged host uid (and gid) the whole jail runs under, bwrap included; unset =
   * the server's own. A root server always sets one (its session's, see session-uids.ts).
   */
  hostUid?: number;
  /**
   * Started for no context yet (the pool's spare). Without the jail, only a context's kernel (and a
   * session's file worker) points the workspace's inside path at its workspace: a spare's start
   * would lead the running session's `/home/user` into a space nobody has taken yet.
   */
  spare?: boolean;
}

/** What the jail needs of a launch (JailPlacement), and its own settings. */
export interface JailCommandOptions extends JailPlacement {
  /** Address-space limit for every process of the kernel, in MiB (0 = none). */
  memoryMb: number;
  /** The complete environment inside; nothing of the server's is inherited. */
  env: Record<string, string>;
  /** The program and its arguments, as seen inside; on bwrap's command line, so no host path belongs here. */
  command: string[];
  /** Size cap of the private /tmp (a tmpfs, so it is memory), in MiB; unset = tmpfs default. */
  tmpSizeMb?: number;
  /** More private tmpfs directories, capped like /tmp (a context's cwd outside the workspace: scratch-cwd.ts). */
  scratchDirs?: string[];
  /**
   * The uid (and gid) inside; default JAIL_UID. A launcher that needs a capability for
   * its own set-up (--cap-add) must use 0, as bwrap hands capabilities to uid 0 only, and
   * drop them before running code.
   */
  uid?: number;
  /** bwrap arguments a launcher adds after the common mounts (more binds, capabilities). */
  extraArgs?: string[];
  /** A BPF program file (seccomp-filter.ts) bwrap loads right before it runs the command. */
  seccompFilter?: string;
  /**
   * bwrap's --disable-userns (default true). It nests the jail in a second user namespace,
   * whose capabilities do not reach the jail's mount namespace: a launcher that must
   * unmount during set-up turns it off and relies on the seccomp filter alone, which
   * denies unshare, setns and clone with CLONE_NEWUSER just the same.
   */
  disableUserns?: boolean;
  /** Size cap of /dev/shm (a tmpfs), in MiB; default SHM_MAX_MB, never above a memoryMb limit. */
  shmSizeMb?: number;
  /**
   * Without the jail only (unjailed-process.ts; the jail always has one): the command runs in a
   * network namespace of its own (and the user namespace that owns it, as root there, mapped to
   * the host uid), its loopback up; with allowNetwork slirp4netns gives it its way out. For a
   * kernel that listens only on TCP (Deno), whose ports would else be every session's to reach.
   */
  ownNetworkNamespace?: boolean;
}

export interface JailedProcess {
  pid: number;
  /** With `pipes`: the command's stdin and stdout, a channel to the server (else both unused). */
  stdin?: NodeJS.WritableStream;
  stdout?: NodeJS.ReadableStream;
  /** With `pipes`: what the command (and, jailed, bwrap itself) writes to stderr; the tail is kept too. */
  stderr?: NodeJS.ReadableStream;
  /** Resolves once the jail's network is up (at once without allowNetwork); rejects if it cannot be. */
  network: Promise<void>;
  /** Resolves when the outer bwrap has exited; with --unshare-pid the whole tree is gone then. */
  exited: Promise<KernelExit>;
  /** The last few KiB the process wrote to stdout/stderr, for launch errors. */
  outputTail(): string;
  /** SIGKILLs the tree (bwrap's pid namespace takes every descendant with it) and waits for it. */
  kill(): Promise<void>;
}
