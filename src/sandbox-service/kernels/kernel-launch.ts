/**
 * The seam between the embedded sandbox's server (which speaks the Jupyter
 * messaging protocol over ZeroMQ) and the launchers that start a kernel of one
 * language under bubblewrap. A launcher hands back ZeroMQ addresses the server
 * can connect to from outside the sandbox, whatever the kernel itself listens on
 * inside it (ipc sockets for ipykernel; TCP bridged to unix sockets for Deno).
 */
import type { Language } from '../../protocol/sandbox-api.ts';
import type { SeccompFilters } from '../jail/seccomp-filter.ts';

/** A Jupyter kernel's five ZeroMQ channels. */
export const CHANNELS = ['shell', 'iopub', 'stdin', 'control', 'hb'] as const;
export type Channel = (typeof CHANNELS)[number];

/** ZeroMQ addresses as the server connects to them, e.g. `ipc:///run/…/shell`. */
export type KernelEndpoints = Record<Channel, string>;

export interface KernelLaunchOptions {
  language: Language;
  /** Host path of the session's workspace: the only persistent writable place besides a private /tmp. Seen inside as the context's cwd. */
  workspace: string;
  /** Path the workspace appears at inside the sandbox (e.g. /home/user); also the working directory there. */
  workspaceMount: string;
  /** Host directory private to this kernel for sockets and the connection file (inside at bubblewrap's RUN_MOUNT); removed by kill(). */
  runDir: string;
  /** The context's memory limit in MiB; launchers apply it per process too (a second line behind the cgroup). */
  memoryMb: number;
  /** cgroup directories the jail's first process joins before anything else runs, so the context's limits hold the kernel's whole tree. */
  cgroupDirs?: string[];
  /** Egress through slirp4netns (private-network.ts); either way the kernel has a network namespace of its own. */
  allowNetwork: boolean;
  /** Variables added to the kernel's base environment (the server's own variables are never passed). */
  env?: Record<string, string>;
  /**
   * The unprivileged host uid (and gid) the whole jail runs under, bwrap included; unset =
   * the server's own. A root server always sets one (its session's, see session-uids.ts).
   */
  hostUid?: number;
  /** The seccomp programs (seccomp-filter.ts); unset = no filter. */
  seccomp?: SeccompFilters;
  /** Private writable tmpfs directories, capped like /tmp (scratch-cwd.ts). */
  scratchDirs?: string[];
}

export interface KernelExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export function describeExit(exit: KernelExit): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit code ${exit.code ?? 'unknown'}`;
}

export interface LaunchedKernel {
  endpoints: KernelEndpoints;
  /** HMAC key for message signatures (hmac-sha256). */
  key: string;
  /** Host pid of the sandbox's outermost process: every process of the kernel descends from it. */
  pid: number;
  /** Resolves when the kernel's process tree has ended, for whatever reason. */
  exited: Promise<KernelExit>;
  /** Ends the kernel's whole process tree and removes runDir; safe to call twice. */
  kill(): Promise<void>;
}

export type KernelLauncher = (options: KernelLaunchOptions) => Promise<LaunchedKernel>;
