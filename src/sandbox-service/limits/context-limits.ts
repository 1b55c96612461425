/**
 * The limits of every context, decided once at sandbox start: which mechanism
 * holds memory, the process count and the disk on this host, and the per-kernel
 * and per-workspace set-up that applies them.
 *
 * As root (the development machines, CI): a cgroup per kernel process tree (v2
 * when controllers are delegated to us, else v1) holds memory for everything the
 * context runs, tmpfs included, and its process count; a loop-mounted ext4 image
 * per workspace holds its disk. Elsewhere what is left is named in the start line:
 * a watchdog summing the resident memory of each kernel's tree (and its tmpfs) for
 * memory, nothing for the process count and the disk.
 */
import { mkdir, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { openCgroupV1 } from './cgroup-v1.ts';
import { openCgroupV2 } from './cgroup-v2.ts';
import type { Cgroups, KernelCgroup } from './kernel-cgroup.ts';
import { LoopDiskQuota } from './loop-disk.ts';
import { RssWatchdog } from './rss-watchdog.ts';

export type { KernelCgroup } from './kernel-cgroup.ts';

export interface ContextLimitSettings {
  /** Memory of everything a context runs, MiB; 0 = none. */
  memoryMb: number;
  /** Processes and threads of a context; 0 = none. */
  pidsMax: number;
  /** Size of a session's workspace, MiB; 0 = none. */
  diskMb: number;
  /** CPUs one context may use (a CFS quota: its processes are throttled past it); 0 or unset = none. */
  cpus?: number;
  /** CPUs all the contexts of one tenant may use together (a quota on the tenant's group); 0 or unset = none. */
  tenantCpus?: number;
}

/** Mechanisms to leave out even where they would work (tests of the fallbacks). */
export interface LimitPreferences {
  cgroups?: boolean;
  loopDisk?: boolean;
}

export interface LimitMechanisms {
  memory: string;
  pids: string;
  cpu: string;
  disk: string;
}

const NO_CGROUP: KernelCgroup = { dirs: [], remove: async () => {} };

/**
 * Above the context's limit, for the launchers' per-process caps (a cgroup or the watchdog holds the limit itself).
 * Those caps count address space, not memory: an idle ipykernel reserves more than 256 MiB of
 * it (thread stacks, malloc arenas) and cannot start under a cap of 256. With the headroom
 * they stay a second line that turns one huge allocation into MemoryError instead of an OOM kill.
 */
const PER_PROCESS_HEADROOM_MB = 1024;

/** Sandboxes opened in this process so far: each names its cgroup apart. */
let groupsOpened = 0;

export class ContextLimits {
  readonly mechanisms: LimitMechanisms;
  readonly #settings: ContextLimitSettings;
  readonly #cgroups: Cgroups | undefined;
  readonly #disk: LoopDiskQuota | undefined;
  readonly #watchdog: RssWatchdog | undefined;

  private constructor(settings: ContextLimitSettings, cgroups: Cgroups | undefined, disk: LoopDiskQuota | undefined) {
    this.#settings = settings;
    this.#cgroups = cgroups;
    this.#disk = disk;
    const off = (value: number) => value === 0;
    if (!off(settings.memoryMb) && !cgroups?.holdsMemory) this.#watchdog = new RssWatchdog(settings.memoryMb * 1024 * 1024);
    this.mechanisms = {
      memory: off(settings.memoryMb) ? 'off' : cgroups?.holdsMemory ? cgroups.kind : 'rss-watchdog',
      pids: off(settings.pidsMax) ? 'off' : cgroups?.holdsPids ? cgroups.kind : 'none',
      cpu: off(settings.cpus ?? 0) ? 'off' : cgroups?.holdsCpu ? cgroups.kind : 'none',
      disk: off(settings.diskMb) ? 'off' : (disk?.kind ?? 'none'),
    };
  }

  /** Finds what this host offers; `imagesDir` keeps the workspace disk images (outside every workspace). */
  static async open(settings: ContextLimitSettings, imagesDir: string, prefer: LimitPreferences = {}): Promise<ContextLimits> {
    const wantsCgroups =
      (settings.memoryMb > 0 || settings.pidsMax > 0 || (settings.cpus ?? 0) > 0 || (settings.tenantCpus ?? 0) > 0) &&
      prefer.cgroups !== false;
    // A group of its own per sandbox, also for a second one in the process (bench/sandbox.ts starts
    // two): closing one removes its whole group tree, which would end the other's kernels.
    const instance = groupsOpened++;
    const groupName = instance === 0 ? `fc-sandbox-${process.pid}` : `fc-sandbox-${process.pid}-${instance}`;
    const [cgroups, disk] = await Promise.all([
      wantsCgroups ? (async () => (await openCgroupV2(groupName)) ?? (await openCgroupV1(groupName)))() : undefined,
      settings.diskMb > 0 && prefer.loopDisk !== false ? LoopDiskQuota.open(imagesDir, settings.diskMb) : undefined,
    ]);
    return new ContextLimits(settings, cgroups, disk);
  }

  /** The one start line, e.g. `sandbox limits: memory=cgroup-v1 pids=cgroup-v1 cpu=cgroup-v1 disk=loop-ext4`. */
  describe(): string {
    const { memory, pids, cpu, disk } = this.mechanisms;
    return `sandbox limits: memory=${memory} pids=${pids} cpu=${cpu} disk=${disk}`;
  }

  /** The per-process memory cap (MiB) the launchers apply: the context's limit itself where nothing holds the whole tree. */
  get perProcessMemoryMb(): number {
    const { memoryMb } = this.#settings;
    return memoryMb === 0 ? 0 : memoryMb + PER_PROCESS_HEADROOM_MB;
  }

  /**
   * Where the watchdog holds memory: watches the kernel's tree (its outermost host pid)
   * and calls `stop` once it holds more than the limit. Returns the unwatch function.
   */
  watchKernel(rootPid: number, stop: () => void): () => void {
    return this.#watchdog?.watch(rootPid, stop) ?? (() => {});
  }

  /**
   * A fresh group for one kernel's process tree (none where cgroups are not ours), under its
   * tenant's CPU quota when `tenant` is known (a spare's joins it when taken: KernelCgroup.joinTenant).
   */
  async kernelCgroup(tenant?: string): Promise<KernelCgroup> {
    if (!this.#cgroups) return NO_CGROUP;
    return this.#cgroups.create(
      randomUUID(),
      {
        memoryBytes: this.#settings.memoryMb * 1024 * 1024,
        pidsMax: this.#settings.pidsMax,
        cpus: this.#settings.cpus ?? 0,
        tenantCpus: this.#settings.tenantCpus ?? 0,
      },
      tenant,
    );
  }

  /** Makes the session's workspace directory, under its quota where there is one; cheap once done. */
  async prepareWorkspace(dir: string): Promise<void> {
    if (this.#disk) await this.#disk.prepare(dir);
    else await mkdir(dir, { recursive: true, mode: 0o700 });
  }

  /** Removes a workspace made by prepareWorkspace, quota and all; nothing may run in it any more. */
  async removeWorkspace(dir: string): Promise<void> {
    await this.#disk?.release(dir);
    await rm(dir, { recursive: true, force: true });
  }

  /** Undoes everything (unmounts workspaces, removes our cgroups); every kernel must be gone. */
  async close(): Promise<void> {
    await Promise.all([this.#disk?.close(), this.#cgroups?.close()]);
  }
}
