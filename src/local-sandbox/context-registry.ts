/**
 * Every context of the sandbox, by session: creation (from the pool), lookup,
 * deletion, the context limit, idle removal, and shutdown. A session is a
 * namespace with its own workspace directory; a context id is only found in the
 * session that created it.
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LANGUAGES, type Language } from '../sandbox/protocol.ts';
import { CodeContext } from './code-context.ts';
import { KernelPool } from './kernel-pool.ts';
import type { KernelLauncher } from './kernel-launch.ts';
import type { ContextLimits } from './limits/context-limits.ts';
import type { SandboxOptions } from './options.ts';
import { RunningKernel } from './running-kernel.ts';
import type { SeccompFilters } from './seccomp-filter.ts';
import type { SessionUids } from './session-uids.ts';

/** Where the session's workspace appears inside every kernel; E2B's default cwd. */
export const WORKSPACE_MOUNT = '/home/user';
/** The session of requests without a session header (not a valid header value: no clash). */
export const DEFAULT_SESSION = '_default';

export type KernelLaunchers = Partial<Record<Language, KernelLauncher>>;

export interface ContextRegistryDeps {
  options: SandboxOptions;
  /** Holds `sessions/<name>` (workspaces) and `run/` (kernel sockets, never inside a workspace). */
  workspaceRoot: string;
  launchers: KernelLaunchers;
  /** Memory, process and disk limits per context (cgroups, workspace quotas). */
  limits: ContextLimits;
  /** How kernels are jailed beyond bubblewrap's mounts: session uids (a root server) and seccomp. */
  jail?: JailSettings;
}

export interface JailSettings {
  /** Set when the server is root: every session's kernels run under a uid of their own. */
  uids?: SessionUids;
  seccomp?: SeccompFilters;
}

export interface CreateContextParams {
  language: Language;
  cwd?: string;
  metadata?: Record<string, string>;
}

/** A request the registry refuses; `status` is the HTTP status to answer with. */
export class ContextRequestError extends Error {
  constructor(
    readonly status: 400 | 404 | 429 | 503,
    message: string,
  ) {
    super(message);
    this.name = 'ContextRequestError';
  }
}

export class ContextRegistry {
  readonly #options: SandboxOptions;
  readonly #workspaceRoot: string;
  readonly #launchers: KernelLaunchers;
  readonly #jail: JailSettings;
  readonly #limits: ContextLimits;
  readonly #pool: KernelPool;
  /** session → context id → context */
  readonly #sessions = new Map<string, Map<string, CodeContext>>();
  /** The context E2B runs code in when a request names only a language, per session and language. */
  readonly #defaults = new Map<string, Promise<CodeContext>>();
  /** Contexts being created, counted against the limit and awaited by close(). */
  readonly #creating = new Set<Promise<unknown>>();
  readonly #sweeper: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(deps: ContextRegistryDeps) {
    this.#options = deps.options;
    this.#workspaceRoot = deps.workspaceRoot;
    this.#launchers = deps.launchers;
    this.#jail = deps.jail ?? {};
    this.#limits = deps.limits;
    this.#pool = new KernelPool(deps.options.poolSize, (session, language) => this.#startKernel(session, language));
    if (this.#launchers.python) this.#pool.fill(DEFAULT_SESSION, 'python');
    const idleMs = deps.options.idleTimeoutSeconds * 1000;
    if (idleMs > 0) {
      this.#sweeper = setInterval(() => void this.removeIdle(idleMs), Math.min(Math.max(idleMs / 4, 250), 30_000));
      this.#sweeper.unref();
    }
  }

  get size(): number {
    let count = 0;
    for (const contexts of this.#sessions.values()) count += contexts.size;
    return count;
  }

  list(session: string): CodeContext[] {
    return [...(this.#sessions.get(session)?.values() ?? [])];
  }

  /** The context, or a 404 error; a context of another session is unknown here. */
  get(session: string, id: string): CodeContext {
    const context = this.#sessions.get(session)?.get(id);
    if (!context || context.closed) throw new ContextRequestError(404, `context "${id}" not found`);
    return context;
  }

  async create(session: string, params: CreateContextParams): Promise<CodeContext> {
    if (this.#closed) throw new ContextRequestError(503, 'the sandbox is shutting down');
    this.#requireLauncher(params.language);
    const cwd = params.cwd ?? WORKSPACE_MOUNT;
    if (!cwd.startsWith('/') || cwd.includes('\0')) {
      throw new ContextRequestError(400, `cwd must be an absolute path, got "${cwd}"`);
    }
    if (this.size + this.#creating.size >= this.#options.maxContexts) {
      throw new ContextRequestError(
        429,
        `context limit reached: this sandbox holds at most ${this.#options.maxContexts} contexts; delete one first`,
      );
    }
    const creation = this.#create(session, { ...params, cwd });
    this.#creating.add(creation);
    try {
      return await creation;
    } finally {
      this.#creating.delete(creation);
    }
  }

  /** The session's default context for a language (created on first use), as E2B keeps one. */
  async defaultContext(session: string, language: Language): Promise<CodeContext> {
    const key = `${language}\0${session}`;
    const existing = this.#defaults.get(key);
    if (existing) {
      const context = await existing.catch(() => undefined);
      if (context && !context.closed) return context;
    }
    const created = this.create(session, { language });
    this.#defaults.set(key, created);
    created.catch(() => this.#defaults.delete(key));
    return created;
  }

  async delete(session: string, id: string): Promise<void> {
    const context = this.get(session, id);
    this.#forget(context);
    await context.close();
  }

  /** Removes contexts that have been idle (not executing) longer than `idleMs`. */
  async removeIdle(idleMs: number): Promise<void> {
    const now = Date.now();
    const idle = [...this.#sessions.values()]
      .flatMap((contexts) => [...contexts.values()])
      .filter((context) => !context.busy && now - context.lastUsed.getTime() > idleMs);
    for (const context of idle) this.#forget(context);
    await Promise.all(idle.map((context) => context.close()));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    await Promise.allSettled(this.#creating);
    const all = [...this.#sessions.values()].flatMap((contexts) => [...contexts.values()]);
    this.#sessions.clear();
    await Promise.all([...all.map((context) => context.close()), this.#pool.close()]);
  }

  async #create(session: string, params: Required<Omit<CreateContextParams, 'metadata'>> & CreateContextParams): Promise<CodeContext> {
    const kernel = await this.#pool.take(session, params.language);
    const context = new CodeContext({
      id: randomUUID(),
      session,
      language: params.language,
      cwd: params.cwd,
      metadata: params.metadata,
      kernel,
      startKernel: () => this.#startKernel(session, params.language),
      onGone: (gone) => this.#forget(gone),
    });
    try {
      if (params.cwd !== WORKSPACE_MOUNT) await context.prepare();
    } catch (error) {
      await context.close();
      throw new ContextRequestError(400, `cannot use cwd "${params.cwd}": ${(error as Error).message}`);
    }
    if (this.#closed) {
      await context.close();
      throw new ContextRequestError(503, 'the sandbox is shutting down');
    }
    let contexts = this.#sessions.get(session);
    if (!contexts) {
      contexts = new Map();
      this.#sessions.set(session, contexts);
    }
    contexts.set(context.id, context);
    return context;
  }

  #forget(context: CodeContext): void {
    const contexts = this.#sessions.get(context.session);
    contexts?.delete(context.id);
    if (contexts?.size === 0) this.#sessions.delete(context.session);
  }

  #requireLauncher(language: Language): void {
    if (!this.#launchers[language]) {
      const available = LANGUAGES.filter((name) => this.#launchers[name]);
      throw new ContextRequestError(400, `${language} is not available in this sandbox; available: ${available.join(', ')}`);
    }
  }

  async #startKernel(session: string, language: Language): Promise<RunningKernel> {
    const launcher = this.#launchers[language];
    if (!launcher) throw new Error(`no launcher for ${language}`);
    const workspace = join(this.#workspaceRoot, 'sessions', session);
    const runRoot = join(this.#workspaceRoot, 'run');
    const uids = this.#jail.uids;
    // Jails under session uids must pass through the parents (not list them); each workspace is 0700, its uid's.
    const parentMode = uids ? 0o711 : 0o700;
    for (const parent of [join(this.#workspaceRoot, 'sessions'), runRoot]) {
      await mkdir(parent, { recursive: true, mode: parentMode });
      if (uids) await chmod(parent, parentMode); // a workspace root kept from an earlier, non-root run
    }
    // Done once per session (a disk quota is a mount): a pooled kernel has it behind it already.
    await this.#limits.prepareWorkspace(workspace);
    const lease = await uids?.acquire(session, workspace);
    try {
      const kernel = await RunningKernel.start(launcher, {
        language,
        workspace,
        workspaceMount: WORKSPACE_MOUNT,
        runRoot,
        memoryMb: this.#limits.perProcessMemoryMb,
        allowNetwork: this.#options.allowNetwork,
        cgroup: () => this.#limits.kernelCgroup(),
        watch: (pid, stop) => this.#limits.watchKernel(pid, stop),
        hostUid: lease?.uid,
        seccomp: this.#jail.seccomp,
      });
      void kernel.exited.then(() => lease?.release());
      return kernel;
    } catch (error) {
      lease?.release();
      throw error;
    }
  }
}
