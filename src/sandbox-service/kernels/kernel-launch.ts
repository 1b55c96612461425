/**
 * The seam between the sandbox service's server (which speaks the Jupyter
 * messaging protocol over ZeroMQ) and the launchers that start a kernel of one
 * language under bubblewrap. A launcher hands back ZeroMQ addresses the server
 * can connect to from outside the sandbox, whatever the kernel itself listens on
 * inside it (ipc sockets for ipykernel; TCP bridged to unix sockets for Deno).
 */
import type { Language } from '../../protocol/sandbox-api.ts';
import type { JailPlacement, KernelExit } from '../jail/jail-command.ts';
import type { SeccompFilters } from '../jail/seccomp-filter.ts';

export { describeExit, type KernelExit } from '../jail/jail-command.ts';

/** A Jupyter kernel's five ZeroMQ channels. */
export const CHANNELS = ['shell', 'iopub', 'stdin', 'control', 'hb'] as const;
export type Channel = (typeof CHANNELS)[number];

/** ZeroMQ addresses as the server connects to them, e.g. `ipc:///run/…/shell`. */
export type KernelEndpoints = Record<Channel, string>;

/** A kernel's launch: where it runs (JailPlacement, documented in jail-command.ts) and what it is. */
export interface KernelLaunchOptions extends JailPlacement {
  language: Language;
  /** The context's memory limit in MiB; launchers apply it per process too (a second line behind the cgroup). */
  memoryMb: number;
  /** Variables added to the kernel's base environment (the server's own variables are never passed). */
  env?: Record<string, string>;
  /** The seccomp programs (seccomp-filter.ts); unset = no filter. */
  seccomp?: SeccompFilters;
  /** Private writable tmpfs directories, capped like /tmp (scratch-cwd.ts). */
  scratchDirs?: string[];
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
