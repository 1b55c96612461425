/**
 * A kernel that is up and spoken to: the launched process tree plus its messaging
 * connection, started and stopped as one.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Language } from '../sandbox/protocol.ts';
import { KernelConnection } from './kernel-connection.ts';
import type { KernelExit, KernelLauncher, LaunchedKernel } from './kernel-launch.ts';
import type { SeccompFilters } from './seccomp-filter.ts';

export interface KernelSpec {
  language: Language;
  workspace: string;
  workspaceMount: string;
  /** Parent of the per-kernel run directories (outside every workspace). */
  runRoot: string;
  memoryMb: number;
  allowNetwork: boolean;
  hostUid?: number;
  seccomp?: SeccompFilters;
}

export class RunningKernel {
  readonly #launched: LaunchedKernel;
  readonly connection: KernelConnection;
  #exit: KernelExit | undefined;

  private constructor(launched: LaunchedKernel, connection: KernelConnection) {
    this.#launched = launched;
    this.connection = connection;
    void launched.exited.then((exit) => {
      this.#exit = exit;
      connection.close();
    });
    // A lost connection is a dead kernel: the server never reconnects by path (the path may
    // lead somewhere else by then). Killing it makes `exited` resolve, and the context restarts.
    void connection.lost.then(() => launched.kill());
  }

  static async start(launcher: KernelLauncher, spec: KernelSpec): Promise<RunningKernel> {
    const launched = await launcher({
      language: spec.language,
      workspace: spec.workspace,
      workspaceMount: spec.workspaceMount,
      runDir: join(spec.runRoot, randomUUID()),
      memoryMb: spec.memoryMb,
      allowNetwork: spec.allowNetwork,
      env: {},
      hostUid: spec.hostUid,
      seccomp: spec.seccomp,
    });
    try {
      const connection = await Promise.race([
        KernelConnection.open(launched.endpoints, launched.key),
        launched.exited.then((exit) => {
          throw new Error(`the ${spec.language} kernel exited while starting (${describeExit(exit)})`);
        }),
      ]);
      return new RunningKernel(launched, connection);
    } catch (error) {
      await launched.kill();
      throw error;
    }
  }

  /** Resolves when the kernel's process tree has ended. */
  get exited(): Promise<KernelExit> {
    return this.#launched.exited;
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  async stop(): Promise<void> {
    this.connection.close();
    await this.#launched.kill();
  }
}

export function describeExit(exit: KernelExit): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit code ${exit.code ?? 'unknown'}`;
}
