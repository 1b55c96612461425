/**
 * A kernel that is up and spoken to: the launched process tree plus its messaging
 * connection, started and stopped as one.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type ConnectionLimits, KernelConnection } from './kernel-connection.ts';
import { describeExit, type KernelExit, type KernelLauncher, type KernelLaunchOptions, type LaunchedKernel } from './kernel-launch.ts';
import { SNIPPETS } from './language-snippets.ts';
import type { KernelCgroup } from '../limits/context-limits.ts';
import type { ContextEgress } from '../egress/context-egress.ts';

/** A launch's options (kernel-launch.ts) but the run directory, which the kernel gets afresh under `runRoot`. */
export interface KernelSpec
  extends Pick<
    KernelLaunchOptions,
    'language' | 'workspace' | 'workspaceMount' | 'memoryMb' | 'allowNetwork' | 'hostUid' | 'seccomp' | 'scratchDirs' | 'spare' | 'env'
  > {
  /** Parent of the per-kernel run directories (outside every workspace). */
  runRoot: string;
  /** Makes the kernel's own cgroup (its context's limits); removed once the kernel has ended. */
  cgroup?: () => Promise<KernelCgroup>;
  /** Watches the kernel's tree from outside (memory where no cgroup holds it); returns the unwatch function. */
  watch?: (rootPid: number, stop: () => void) => () => void;
  /** What the server takes from the kernel's sockets. */
  connection: ConnectionLimits;
  /** Its way out through the policy proxy: a context's (a restart), or a fresh one with no host allowed (a spare). */
  egress?: ContextEgress;
}

export class RunningKernel {
  readonly #launched: LaunchedKernel;
  readonly #cgroup: KernelCgroup | undefined;
  readonly connection: KernelConnection;
  /** The route its jail reaches the policy proxy by; the context that takes the kernel sets its policy. */
  readonly egress: ContextEgress | undefined;
  #exit: KernelExit | undefined;
  #lostBecause: string | undefined;

  private constructor(
    launched: LaunchedKernel,
    connection: KernelConnection,
    egress: ContextEgress | undefined,
    cgroup: KernelCgroup | undefined,
  ) {
    this.#launched = launched;
    this.#cgroup = cgroup;
    this.egress = egress;
    this.connection = connection;
    void launched.exited.then((exit) => {
      this.#exit = exit;
      connection.close();
    });
    // A lost connection is a dead kernel: the server never reconnects by path (the path may
    // lead somewhere else by then). Killing it makes `exited` resolve, and the context restarts.
    void connection.lost.then((breach) => {
      if (breach) {
        this.#lostBecause = breach;
        console.warn(`sandbox: kernel ${launched.pid} stopped: ${breach}`);
      }
      return launched.kill();
    });
  }

  static async start(launcher: KernelLauncher, spec: KernelSpec): Promise<RunningKernel> {
    const cgroup = await spec.cgroup?.();
    let launched: LaunchedKernel;
    try {
      launched = await launcher({
        language: spec.language,
        workspace: spec.workspace,
        workspaceMount: spec.workspaceMount,
        runDir: join(spec.runRoot, randomUUID()),
        memoryMb: spec.memoryMb,
        cgroupDirs: cgroup?.dirs,
        allowNetwork: spec.allowNetwork,
        hostUid: spec.hostUid,
        seccomp: spec.seccomp,
        scratchDirs: spec.scratchDirs,
        spare: spec.spare,
        env: spec.env,
        egress: spec.egress,
      });
    } catch (error) {
      await cgroup?.remove().catch(() => {});
      throw error;
    }
    // A group still busy after its retries stays; the next start sweeps the groups of dead sandboxes.
    if (cgroup) void launched.exited.then(() => cgroup.remove()).catch(() => {});
    // Stopped over its limit, the kernel dies like any other: the context reports it and restarts.
    const unwatch = spec.watch?.(launched.pid, () => void launched.kill());
    if (unwatch) void launched.exited.then(unwatch);
    try {
      const connection = await Promise.race([
        KernelConnection.open(launched.endpoints, launched.key, spec.connection),
        launched.exited.then((exit) => {
          throw new Error(`the ${spec.language} kernel exited while starting (${describeExit(exit)})`);
        }),
      ]);
      const prelude = SNIPPETS[spec.language].prelude;
      if (prelude) await runPrelude(connection, prelude, spec.language);
      return new RunningKernel(launched, connection, spec.egress, cgroup);
    } catch (error) {
      await launched.kill();
      throw error;
    }
  }

  /**
   * Puts the kernel's CPU time under its tenant's quota (a spare, started before anyone took it).
   * Where that fails the kernel keeps its context's own quota: said, not fatal.
   */
  async joinTenant(tenant: string): Promise<void> {
    await this.#cgroup?.joinTenant?.(tenant).catch((error: Error) => {
      console.warn(`sandbox: kernel ${this.pid} keeps its own CPU quota, not its tenant's: ${error.message}`);
    });
  }

  /** Host pid of the kernel's outermost process: all it runs descends from it. */
  get pid(): number {
    return this.#launched.pid;
  }

  /** Resolves when the kernel's process tree has ended. */
  get exited(): Promise<KernelExit> {
    return this.#launched.exited;
  }

  /** Why the server stopped the kernel after its connection dropped (the kernel broke the rules), if it did. */
  get lostBecause(): string | undefined {
    return this.#lostBecause;
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  async stop(): Promise<void> {
    this.connection.close();
    await this.#launched.kill();
  }
}

/** The language's set-up code, run silently; a failure is a failed start (the code is ours). */
async function runPrelude(connection: KernelConnection, code: string, language: string): Promise<void> {
  let failure: Record<string, unknown> | undefined;
  const { msgId, done } = connection.execute(code, {
    silent: true,
    onIopub: (message) => {
      if (message.header.msg_type === 'error') failure = message.content;
    },
  });
  try {
    const reply = await done;
    failure ??= reply.status === 'error' ? reply : undefined;
  } finally {
    connection.forget(msgId);
  }
  if (failure) throw new Error(`the ${language} kernel's set-up failed: ${String(failure.ename)}: ${String(failure.evalue)}`);
}
