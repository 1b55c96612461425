/**
 * What a session owns on the host: its workspace (under its disk quota), its
 * unprivileged uid (a root server) and, once asked for, its file worker. A space is
 * made before anyone names it, so the kernel pool can keep spares in fresh spaces
 * ready for new sessions; its directory is a random id, never the session's name.
 * Only a context's creation gives a session a space (context-registry.ts); destroying
 * it removes the workspace from disk.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { FileWorker } from '../files/file-worker.ts';
import type { ContextLimits } from '../limits/context-limits.ts';
import type { SeccompFilters } from '../jail/seccomp-filter.ts';
import type { SessionUidLease, SessionUids } from '../jail/session-uids.ts';

export interface SpaceSettings {
  /** Holds `sessions/<id>` (workspaces) and `run/` (kernel and worker sockets). */
  workspaceRoot: string;
  workspaceMount: string;
  limits: ContextLimits;
  uids?: SessionUids;
  seccomp?: SeccompFilters;
}

/** The space was destroyed (its session's last context went): its files are gone. */
export class SpaceEndedError extends Error {
  constructor() {
    super('the session has ended');
    this.name = 'SpaceEndedError';
  }
}

export class SessionSpace {
  readonly id: string;
  /** Host path of the workspace. */
  readonly workspace: string;
  readonly #settings: SpaceSettings;
  readonly #lease: SessionUidLease | undefined;
  #files: Promise<FileWorker> | undefined;
  /** Processes running in the space besides its kernels (shell commands), each by its stop. */
  readonly #held = new Set<() => Promise<void>>();
  #destroyed = false;
  /** When a file request last touched it (idle removal of spaces without contexts). */
  lastUsed = Date.now();

  private constructor(id: string, settings: SpaceSettings, lease: SessionUidLease | undefined) {
    this.id = id;
    this.workspace = workspaceOf(settings, id);
    this.#settings = settings;
    this.#lease = lease;
  }

  static async open(settings: SpaceSettings): Promise<SessionSpace> {
    const id = randomUUID();
    const workspace = workspaceOf(settings, id);
    await settings.limits.prepareWorkspace(workspace);
    let lease: SessionUidLease | undefined;
    try {
      lease = await settings.uids?.acquire(id, workspace);
    } catch (error) {
      await settings.limits.removeWorkspace(workspace);
      throw error;
    }
    return new SessionSpace(id, settings, lease);
  }

  /** The uid its jails run under (a root server's), else undefined: the server's own. */
  get hostUid(): number | undefined {
    return this.#lease?.uid;
  }

  get runRoot(): string {
    return join(this.#settings.workspaceRoot, 'run');
  }

  /** The space's file worker, started on first use and again if it has ended. */
  async files(): Promise<FileWorker> {
    if (this.#destroyed) throw new SpaceEndedError();
    this.lastUsed = Date.now();
    const current = this.#files && (await this.#files.catch(() => undefined));
    if (current?.alive) return current;
    this.#files = FileWorker.start({
      workspace: this.workspace,
      workspaceMount: this.#settings.workspaceMount,
      runRoot: this.runRoot,
      hostUid: this.hostUid,
      seccomp: this.#settings.seccomp,
      memoryMb: this.#settings.limits.perProcessMemoryMb,
      idleMs: FILE_WORKER_IDLE_MS,
    });
    return this.#files;
  }

  /**
   * Keeps a process that runs in the space (a shell command: session-commands.ts), so that
   * destroy() stops it before the workspace goes, and idle removal waits for it. Returns the release.
   */
  hold(stop: () => Promise<void>): () => void {
    if (this.#destroyed) throw new SpaceEndedError();
    this.#held.add(stop);
    return () => {
      this.#held.delete(stop);
      this.lastUsed = Date.now();
    };
  }

  /** Something runs in it besides its kernels. */
  get busy(): boolean {
    return this.#held.size > 0;
  }

  /** Ends the file worker and removes the workspace; its kernels must be gone already. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await Promise.all([...this.#held].map((stop) => stop().catch(() => {})));
    const worker = await this.#files?.catch(() => undefined);
    await worker?.close();
    try {
      // Whatever left its kernel's process group goes too, before its files: jobs outside
      // the group (bash-kernel.py starts bash in a session of its own) would otherwise outlive it.
      await this.#lease?.endProcesses();
      await this.#settings.limits.removeWorkspace(this.workspace);
    } finally {
      await this.#lease?.release();
    }
  }
}

/**
 * A session's file worker ends after this long without a file request (7 MB per idle session,
 * bench/README.md); the next request, or run that reports its files, starts one again (~30 ms).
 */
export const FILE_WORKER_IDLE_MS = 30_000;

function workspaceOf(settings: SpaceSettings, id: string): string {
  return join(settings.workspaceRoot, 'sessions', id);
}
