/**
 * Every context of the sandbox, by session: creation (from the pool), lookup,
 * deletion, the context limit, idle removal, and shutdown. A session is a
 * namespace with its own space (workspace, uid, file worker: session-space.ts); a
 * context id is only found in the session that created it. A session gets its space
 * from its first context, or from a file request that may open one (AgentRun's and
 * E2B's clients upload before they create a context); such a space counts as one
 * context against the limits until the session holds one, so no space goes uncounted.
 * A file request that says its session must exist (the MCP side's, whose sessions come
 * from contexts) is refused for a session without a space, so a stopped context's id
 * brings nothing back. A session ends, and its workspace is removed from disk, when its
 * last context is deleted or removed idle, or, holding only files, after the idle timeout.
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Context,
  LANGUAGES,
  type Language,
  type TenantQuota,
  NETWORK_REFUSAL,
  UNKNOWN_SESSION_REFUSAL,
  WORKSPACE_DIR,
} from '../../protocol/sandbox-api.ts';
import { CodeContext } from './code-context.ts';
import { FRESH_SPACE, KernelPool } from './kernel-pool.ts';
import type { KernelLauncher } from '../kernels/kernel-launch.ts';
import type { ContextLimits, KernelCgroup } from '../limits/context-limits.ts';
import { kernelMessageBytes, type SandboxOptions } from '../settings.ts';
import { RunningKernel } from '../kernels/running-kernel.ts';
import { treeUsages } from '../limits/rss-watchdog.ts';
import type { SeccompFilters } from '../jail/seccomp-filter.ts';
import type { SessionUids } from '../jail/session-uids.ts';
import { SessionSpace, SpaceEndedError, type SpaceSettings } from './session-space.ts';
import { jailEnabled } from '../jail/jail-mode.ts';
import { pointWorkspaceMount } from '../jail/unjailed-process.ts';
import type { FileWorker } from '../files/file-worker.ts';
import { Refusal } from '../refusal.ts';
import { normalCwd, ScratchCwdError, scratchDirFor } from './scratch-cwd.ts';
import { quotaRefusal } from './tenant-quota.ts';
import { packageEnv } from '../packages/package-env.ts';
import type { ContextEgress } from '../egress/context-egress.ts';
import { EgressPolicyError, type SandboxEgress } from '../egress/sandbox-egress.ts';
import { NO_EGRESS, type EgressPolicy } from '../egress/egress-policy.ts';

/** Where the session's workspace appears inside every kernel; E2B's default cwd. */
export const WORKSPACE_MOUNT = WORKSPACE_DIR;
/** The session of requests without a session header (not a valid header value: no clash). */
export const DEFAULT_SESSION = '_default';
/**
 * The contexts E2B's image has from the start. The header-less session (E2B's clients) lists
 * them before they exist; each is created when first used (its id or its language), so a
 * fresh sandbox starts no kernel for them.
 */
const LISTED_DEFAULTS: Language[] = ['python', 'javascript'];
const defaultId = (language: Language) => `default-${language}`;

/** What an execution cut short by the sandbox's shutdown is told. */
export const SHUTDOWN_MESSAGE = 'The sandbox is shutting down: this code was stopped and its context is gone.';

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
  /** The policy proxy and the ceiling (egress/); without it, no jail gets a way out but allowNetwork's. */
  egress?: SandboxEgress;
  /** Told whether each new context's kernel was a spare (telemetry/types.ts). */
  onKernelTaken?(hit: boolean): void;
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
  /** The tenant's cap, counted over every session starting with its prefix (the session must too). */
  quota?: TenantQuota;
  /** The context's network policy (host patterns); none by default. */
  network?: { allowOut?: readonly string[]; denyOut?: readonly string[] };
}

/** A file request's 404 for a session without live contexts; the client tells it from a missing file by its start. */
function unknownSession(session: string): Refusal {
  return new Refusal(
    'unknown_session',
    `${UNKNOWN_SESSION_REFUSAL}: session "${session}" holds no live context (stopped, removed idle, or never created); create a context first`,
  );
}

/** What a shell command of a session runs in and under: what its kernels get. */
export interface CommandJail {
  space: SessionSpace;
  workspaceMount: string;
  memoryMb: number;
  allowNetwork: boolean;
  /** Added to the command's base environment, as to a kernel's (packages/package-env.ts). */
  env: Record<string, string>;
  /** The command's way out: the policy proxy with no host allowed (its variables set, so a client fails at once with the policy's 403). */
  egress?: ContextEgress;
  seccompFilter?: string;
  cgroup(): Promise<KernelCgroup>;
  watch(rootPid: number, stop: () => void): () => void;
}

/** How #startKernel starts a kernel (its doc comment says what each means). */
interface KernelStart {
  scratchDirs?: string[];
  spare?: boolean;
  egress?: ContextEgress;
  tenant?: string;
}

interface PooledKernel {
  space: SessionSpace;
  kernel: RunningKernel;
}

export class ContextRegistry {
  readonly #options: SandboxOptions;
  readonly #workspaceRoot: string;
  readonly #launchers: KernelLaunchers;
  readonly #jail: JailSettings;
  readonly #limits: ContextLimits;
  readonly #egress: SandboxEgress | undefined;
  readonly #spaceSettings: SpaceSettings;
  readonly #pool: KernelPool<PooledKernel>;
  /** session → context id → context */
  readonly #sessions = new Map<string, Map<string, CodeContext>>();
  /** session → its space (set before the space is ready, so concurrent requests share one) */
  readonly #spaces = new Map<string, Promise<SessionSpace>>();
  /** The spaces of named sessions, by space id (the pool's key for their spares). */
  readonly #spaceById = new Map<string, SessionSpace>();
  /**
   * The Python kernel of a session opened by a file request, for its first context: the
   * fresh spare whose space it took over (openSpace), so that context starts as fast as
   * one from the pool, and the pool's spares stay where they are.
   */
  readonly #firstKernels = new Map<string, PooledKernel>();
  /** Each session's tenant, whose CPU quota its kernels share: the quota's session prefix it was created with, else itself. */
  readonly #tenants = new Map<string, string>();
  /** The context E2B runs code in when a request names only a language, per session and language. */
  readonly #defaults = new Map<string, Promise<CodeContext>>();
  /** Contexts being created, awaited by close(). */
  readonly #creating = new Set<Promise<unknown>>();
  /**
   * How many creations each session has under way, until their context is live: they
   * count against the limits (so parallel creations cannot overshoot), and the
   * session's space must outlive them.
   */
  readonly #creatingIn = new Map<string, number>();
  readonly #sweeper: NodeJS.Timeout | undefined;
  #parents: Promise<void> | undefined;
  #closed = false;

  constructor(deps: ContextRegistryDeps) {
    this.#options = deps.options;
    this.#workspaceRoot = deps.workspaceRoot;
    this.#launchers = deps.launchers;
    this.#jail = deps.jail ?? {};
    this.#limits = deps.limits;
    this.#egress = deps.egress;
    this.#spaceSettings = {
      workspaceRoot: deps.workspaceRoot,
      workspaceMount: WORKSPACE_MOUNT,
      limits: deps.limits,
      uids: this.#jail.uids,
      seccomp: this.#jail.seccomp,
    };
    this.#pool = new KernelPool<PooledKernel>(deps.options.poolSize, {
      start: (space, language) => this.#startPooled(space, language),
      discard: async ({ space, kernel }, key) => {
        await kernel.stop();
        if (key === FRESH_SPACE) await space.destroy();
      },
      taken: deps.onKernelTaken,
    });
    if (this.#launchers.python) this.#pool.fill(FRESH_SPACE, 'python');
    const idleMs = deps.options.idleTimeoutSeconds * 1000;
    if (idleMs > 0) {
      this.#sweeper = setInterval(() => void this.removeIdle(idleMs), Math.min(Math.max(idleMs / 4, 250), 30_000));
      this.#sweeper.unref();
    }
  }

  /** Pre-started kernels not yet given to a context. */
  get spareKernels(): number {
    return this.#pool.spareCount;
  }

  get size(): number {
    let count = 0;
    for (const contexts of this.#sessions.values()) count += contexts.size;
    return count;
  }

  /**
   * What each live context holds in memory now: the resident memory of its kernel's process tree
   * (the kernel and all it started) and its private /tmp, as the RSS watchdog counts it.
   */
  async memory(): Promise<{ language: Language; bytes: number }[]> {
    const contexts = [...this.#sessions.values()].flatMap((session) => [...session.values()]).filter((context) => !context.closed);
    const bytes = await treeUsages(contexts.map((context) => context.kernelPid));
    return contexts.map((context, i) => ({ language: context.language, bytes: bytes[i]! }));
  }

  list(session: string): CodeContext[] {
    return [...(this.#sessions.get(session)?.values() ?? [])];
  }

  /** The session's contexts as listed: for the header-less session, with E2B's defaults not yet used first. */
  listed(session: string): Context[] {
    const contexts = this.list(session).map((context) => context.toJSON());
    if (session !== DEFAULT_SESSION) return contexts;
    const unused = LISTED_DEFAULTS.filter((language) => !contexts.some((context) => context.id === defaultId(language)));
    return [...unused.map((language) => ({ id: defaultId(language), language, cwd: WORKSPACE_MOUNT })), ...contexts];
  }

  /** Like get, but a default context's id creates that context on first use. */
  async resolve(session: string, id: string): Promise<CodeContext> {
    const language = LANGUAGES.find((name) => defaultId(name) === id);
    if (language && !this.#sessions.get(session)?.has(id)) return this.defaultContext(session, language);
    return this.get(session, id);
  }

  /** The sessions that hold live contexts. */
  sessionNames(): string[] {
    return [...this.#sessions.keys()];
  }

  /** The host path of a session's workspace, if the session has one (tests look at it from outside). */
  async workspaceOf(session: string): Promise<string | undefined> {
    return (await this.#spaces.get(session)?.catch(() => undefined))?.workspace;
  }

  /** The context, or a 404 error; a context of another session is unknown here. */
  get(session: string, id: string): CodeContext {
    const context = this.#sessions.get(session)?.get(id);
    if (!context || context.closed) throw new Refusal('not_found', `context "${id}" not found`);
    return context;
  }

  /**
   * The session's file worker. With `open`, a session without a space gets one
   * (openSpace); without, it is a 404, so a stopped session's name cannot bring back a
   * workspace, a uid and a worker.
   */
  async files(session: string, { open = false }: { open?: boolean } = {}): Promise<FileWorker> {
    if (open) this.openSpace(session);
    else this.requireSession(session);
    try {
      return await (await this.#spaces.get(session)!).files();
    } catch (error) {
      // Its space failed to start, or ended (last context stopped) while this request waited.
      if (error instanceof SpaceEndedError || !this.#spaces.has(session)) throw unknownSession(session);
      throw error;
    }
  }

  /**
   * Where a shell command of the session runs (session-commands.ts): its space (opened as
   * files() opens it) and the limits and jail its kernels get.
   */
  async commandJail(session: string, { open = false }: { open?: boolean } = {}): Promise<CommandJail> {
    if (open) this.openSpace(session);
    else this.requireSession(session);
    let space: SessionSpace | undefined;
    try {
      space = await this.#spaces.get(session);
    } catch {
      // its space failed to start
    }
    if (!space || !this.#spaces.has(session)) throw unknownSession(session);
    return {
      space,
      workspaceMount: WORKSPACE_MOUNT,
      memoryMb: this.#limits.perProcessMemoryMb,
      allowNetwork: this.#options.allowNetwork,
      env: packageEnv(this.#options),
      egress: this.#egress?.route(),
      seccompFilter: this.#jail.seccomp?.code,
      cgroup: () => this.#limits.kernelCgroup(this.#tenantOf(session)),
      watch: (pid, stop) => this.#limits.watchKernel(pid, stop),
    };
  }

  #tenantOf(session: string): string {
    return this.#tenants.get(session) ?? session;
  }

  /** Throws the 404 (or 503 when closing) a file request gets for a session without a space. */
  requireSession(session: string): void {
    if (this.#closed) throw new Refusal('unavailable', 'the sandbox is shutting down');
    if (!this.#spaces.has(session)) throw unknownSession(session);
  }

  /**
   * Gives the session a space for its files if it has none. Counted as one context from
   * this call on (no await between the count and the binding: parallel calls see each
   * other), so past SANDBOX_MAX_CONTEXTS it is a 429 like a creation.
   */
  openSpace(session: string): void {
    if (this.#closed) throw new Refusal('unavailable', 'the sandbox is shutting down');
    if (this.#spaces.has(session)) return;
    if (this.#held() >= this.#options.maxContexts) {
      throw new Refusal(
        'at_capacity',
        `context limit reached: this sandbox holds at most ${this.#options.maxContexts} contexts (a session holding only files counts as one); delete one first`,
      );
    }
    // A fresh spare that is up gives its space, and its kernel to the first context; else a new space.
    const spare = this.#launchers.python ? this.#pool.takeReady(FRESH_SPACE, 'python') : undefined;
    if (spare) this.#firstKernels.set(session, spare);
    this.#bindSpace(
      session,
      spare ? Promise.resolve(spare.space) : this.#ensureParents().then(() => SessionSpace.open(this.#spaceSettings)),
    );
  }

  /** `id` is the registry's own choice (a default context's); callers leave it out. */
  async create(session: string, params: CreateContextParams, id: string = randomUUID()): Promise<CodeContext> {
    if (this.#closed) throw new Refusal('unavailable', 'the sandbox is shutting down');
    this.#requireLauncher(params.language);
    const given = params.cwd ?? WORKSPACE_MOUNT;
    if (!given.startsWith('/') || given.includes('\0')) {
      throw new Refusal('invalid_request', `cwd must be an absolute path, got "${given}"`);
    }
    const cwd = normalCwd(given);
    const policy = this.#policy(params.network);
    try {
      scratchDirFor(cwd, WORKSPACE_MOUNT);
    } catch (error) {
      if (error instanceof ScratchCwdError) throw new Refusal('invalid_request', error.message);
      throw error;
    }
    // Counted and reserved with no await in between: parallel creations see each other.
    const hadSpace = this.#spaces.has(session);
    const release = this.#reserve(session, params.quota);
    if (params.quota) this.#tenants.set(session, params.quota.session_prefix);
    const creation = (async () => {
      let failed = false;
      try {
        return await this.#create(session, { ...params, cwd }, policy, release, id);
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        release();
        // A failed first creation leaves the session's fresh space without contexts: it goes too
        // (a space opened for files before keeps them, and ends when idle).
        if (failed && !hadSpace) await this.#endIfEmpty(session);
      }
    })();
    this.#creating.add(creation);
    void creation.then(
      () => this.#creating.delete(creation),
      () => this.#creating.delete(creation),
    );
    return this.#withinDeadline(session, params.language, creation);
  }

  /**
   * The creation, or past CONTEXT_START_TIMEOUT_SECONDS a refusal that says so: its caller
   * hears why rather than its own timeout. The start goes on (a kernel half up cannot be
   * stopped cleanly), still counted against the limits, and its context is deleted as soon
   * as it is up: nobody holds its id.
   */
  async #withinDeadline(session: string, language: Language, creation: Promise<CodeContext>): Promise<CodeContext> {
    const seconds = this.#options.contextStartTimeoutSeconds;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void creation.then((context) => this.delete(session, context.id)).catch(() => {});
        reject(
          new Refusal(
            'start_timeout',
            `the ${language} context did not start within ${seconds} s (the sandbox is busy, or its kernel hangs); it is undone, try again`,
          ),
        );
      }, seconds * 1000);
    });
    try {
      return await Promise.race([creation, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Checks the limits (the tenant's quota, then the sandbox's) against the live contexts
   * plus the creations under way, and counts this creation in; the returned function
   * (idempotent) takes it out again once its context is live or has failed.
   */
  #reserve(session: string, quota: TenantQuota | undefined): () => void {
    // A session holding only files is counted already; its first context takes over that count.
    const counted = this.#holdsOnlyFiles(session) ? 1 : 0;
    if (quota) {
      if (!session.startsWith(quota.session_prefix)) {
        throw new Refusal('invalid_request', `the quota's session_prefix "${quota.session_prefix}" does not begin this session's name`);
      }
      const refusal = quotaRefusal(quota, this.#held(quota.session_prefix) - counted, this.#options.maxContexts);
      if (refusal) throw new Refusal('quota_reached', refusal);
    }
    if (this.#held() - counted >= this.#options.maxContexts) {
      throw new Refusal(
        'at_capacity',
        `context limit reached: this sandbox holds at most ${this.#options.maxContexts} contexts; delete one first`,
      );
    }
    this.#creatingIn.set(session, (this.#creatingIn.get(session) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.#creatingIn.get(session)! - 1;
      if (left > 0) this.#creatingIn.set(session, left);
      else this.#creatingIn.delete(session);
    };
  }

  /**
   * Live contexts plus creations under way plus sessions holding only files (one each), in
   * every session or in those starting with `prefix`.
   */
  #held(prefix?: string): number {
    let count = 0;
    for (const [session, contexts] of this.#sessions) if (prefix === undefined || session.startsWith(prefix)) count += contexts.size;
    for (const [session, creating] of this.#creatingIn) if (prefix === undefined || session.startsWith(prefix)) count += creating;
    for (const session of this.#spaces.keys()) {
      if ((prefix === undefined || session.startsWith(prefix)) && this.#holdsOnlyFiles(session)) count += 1;
    }
    return count;
  }

  /** A session with a space but no context, live or being created. */
  #holdsOnlyFiles(session: string): boolean {
    return this.#spaces.has(session) && !this.#sessions.has(session) && !this.#creatingIn.has(session);
  }

  /** The session's default context for a language (created on first use), as E2B keeps one. */
  async defaultContext(session: string, language: Language): Promise<CodeContext> {
    const key = `${language}\0${session}`;
    const existing = this.#defaults.get(key);
    if (existing) {
      const context = await existing.catch(() => undefined);
      if (context && !context.closed) return context;
    }
    const created = this.create(session, { language }, defaultId(language));
    this.#defaults.set(key, created);
    created.catch(() => this.#defaults.delete(key));
    return created;
  }

  /**
   * Replaces a live context's network policy (its kernel keeps running): the next request
   * through the proxy follows it. Refused (403) beyond the operator's ceiling, or where no
   * policy can be enforced.
   */
  setNetwork(session: string, id: string, network: NonNullable<CreateContextParams['network']>): CodeContext {
    const context = this.get(session, id);
    const policy = this.#policy(network);
    if (context.egress) context.egress.setPolicy(policy);
    else if (policy.allowOut.length > 0)
      throw new Refusal('network_refused', `${NETWORK_REFUSAL} refused: this context has no way out through the proxy`);
    return context;
  }

  /** The requested policy, checked against the ceiling and the mode; none when none is asked for. */
  #policy(network: CreateContextParams['network']): EgressPolicy {
    if (!network) return NO_EGRESS;
    if (!this.#egress) {
      if ((network.allowOut ?? []).length === 0) return NO_EGRESS;
      throw new Refusal('network_refused', `${NETWORK_REFUSAL} refused: this sandbox has no policy proxy`);
    }
    try {
      return this.#egress.check(network);
    } catch (error) {
      if (error instanceof EgressPolicyError) throw new Refusal(error.code, error.message);
      throw error;
    }
  }

  /** Deletes the context; the session's last one takes the session's workspace with it. */
  async delete(session: string, id: string): Promise<void> {
    const context = this.get(session, id);
    this.#forget(context);
    await context.close();
    await this.#endIfEmpty(session);
  }

  /**
   * Removes contexts that have been idle (not executing) longer than `idleMs`, and any
   * space left without contexts whose files have not been touched for as long.
   */
  async removeIdle(idleMs: number): Promise<void> {
    const now = Date.now();
    const idle = [...this.#sessions.values()]
      .flatMap((contexts) => [...contexts.values()])
      .filter((context) => !context.busy && now - context.lastUsed.getTime() > idleMs);
    for (const context of idle) this.#forget(context);
    await Promise.all(idle.map((context) => context.close()));
    const bare = [...this.#spaces.keys()].filter((session) => !this.#sessions.has(session));
    await Promise.all(
      bare.map(async (session) => {
        const space = await this.#spaces.get(session)?.catch(() => undefined);
        if (space && !space.busy && now - space.lastUsed > idleMs) await this.#endIfEmpty(session);
      }),
    );
  }

  /**
   * Stops every context and spare and removes every workspace. Executions in flight end
   * with SHUTDOWN_MESSAGE; from the first line on, nothing starts a kernel any more.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    await Promise.allSettled(this.#creating);
    const all = [...this.#sessions.values()].flatMap((contexts) => [...contexts.values()]);
    this.#sessions.clear();
    await Promise.all([...all.map((context) => context.close(SHUTDOWN_MESSAGE)), this.#pool.close()]);
    await Promise.allSettled([...this.#spaces.keys()].map((session) => this.#endIfEmpty(session)));
  }

  async #create(
    session: string,
    params: Required<Pick<CreateContextParams, 'language' | 'cwd'>> & CreateContextParams,
    policy: EgressPolicy,
    release: () => void,
    id: string,
  ): Promise<CodeContext> {
    const scratch = scratchDirFor(params.cwd, WORKSPACE_MOUNT);
    const scratchDirs = scratch === undefined ? undefined : [scratch];
    // A cwd of its own needs a kernel started with it (a tmpfs there), not a pooled one.
    const { space, kernel } = scratchDirs
      ? await this.#ownKernel(session, params.language, scratchDirs)
      : await this.#claim(session, params.language);
    // A spare was started before anyone took it: its CPU time counts toward the tenant's from now on.
    await kernel.joinTenant(this.#tenantOf(session));
    // Without the jail, /home/user is one link: to the session whose context came last (a spare's start left it alone).
    if (!jailEnabled()) pointWorkspaceMount(WORKSPACE_MOUNT, space.workspace);
    // The kernel's route becomes the context's: a spare's allowed nothing until now.
    const egress = kernel.egress;
    egress?.setPolicy(policy);
    const context = new CodeContext({
      id,
      session,
      language: params.language,
      cwd: params.cwd,
      metadata: params.metadata,
      kernel,
      egress,
      startKernel: () => this.#startKernel(space, params.language, { scratchDirs, egress, tenant: this.#tenantOf(session) }),
      onGone: (gone) => {
        this.#forget(gone);
        void this.#endIfEmpty(gone.session);
      },
    });
    try {
      if (params.cwd !== WORKSPACE_MOUNT) await context.prepare();
    } catch (error) {
      await context.close();
      throw new Refusal('invalid_request', `cannot use cwd "${params.cwd}": ${(error as Error).message}`);
    }
    if (this.#closed) {
      await context.close();
      throw new Refusal('unavailable', 'the sandbox is shutting down');
    }
    let contexts = this.#sessions.get(session);
    if (!contexts) {
      contexts = new Map();
      this.#sessions.set(session, contexts);
    }
    // From reserved to live in one step: counted once, never twice or not at all.
    release();
    contexts.set(context.id, context);
    return context;
  }

  /**
   * A kernel for a new context of the session. A session's first context takes a spare
   * with a fresh space, which becomes the session's; later ones start in that space.
   */
  async #claim(session: string, language: Language): Promise<PooledKernel> {
    const existing = this.#spaces.get(session);
    if (existing) {
      const first = language === 'python' ? this.#firstKernels.get(session) : undefined;
      if (first) {
        this.#firstKernels.delete(session);
        if (first.kernel.alive) return first;
        void first.kernel.stop();
      }
      const space = await existing;
      return this.#pool.take(space.id, language);
    }
    const taking = this.#pool.take(FRESH_SPACE, language);
    this.#bindSpace(
      session,
      taking.then(({ space }) => space),
    );
    return taking;
  }

  #bindSpace(session: string, space: Promise<SessionSpace>): void {
    this.#spaces.set(session, space);
    space.then(
      (ready) => this.#spaceById.set(ready.id, ready),
      () => {
        if (this.#spaces.get(session) === space) this.#spaces.delete(session);
      },
    );
  }

  #forget(context: CodeContext): void {
    const contexts = this.#sessions.get(context.session);
    contexts?.delete(context.id);
    if (contexts?.size === 0) this.#sessions.delete(context.session);
  }

  /** Ends a session without contexts: its spares stop and its workspace is removed from disk. */
  async #endIfEmpty(session: string): Promise<void> {
    if (this.#sessions.has(session) || this.#creatingIn.has(session)) return;
    const pending = this.#spaces.get(session);
    if (!pending) return;
    this.#spaces.delete(session);
    this.#tenants.delete(session);
    const first = this.#firstKernels.get(session);
    this.#firstKernels.delete(session);
    await first?.kernel.stop();
    const space = await pending.catch(() => undefined);
    if (!space) return;
    this.#spaceById.delete(space.id);
    await this.#pool.drop(space.id);
    await space.destroy();
  }

  #requireLauncher(language: Language): void {
    if (!this.#launchers[language]) {
      const available = LANGUAGES.filter((name) => this.#launchers[name]);
      throw new Refusal('invalid_request', `${language} is not available in this sandbox; available: ${available.join(', ')}`);
    }
  }

  /** The pool's start hook: a kernel in a named session's space, or in a fresh space of its own. */
  async #startPooled(spaceKey: string, language: Language): Promise<PooledKernel> {
    if (spaceKey !== FRESH_SPACE) {
      const space = this.#spaceById.get(spaceKey);
      if (!space) throw new Error('the session has ended');
      return { space, kernel: await this.#startKernel(space, language, { spare: true }) };
    }
    await this.#ensureParents();
    if (this.#closed) throw new Refusal('unavailable', 'the sandbox is shutting down');
    const space = await SessionSpace.open(this.#spaceSettings);
    try {
      return { space, kernel: await this.#startKernel(space, language, { spare: true }) };
    } catch (error) {
      await space.destroy();
      throw error;
    }
  }

  /** Jails under session uids must pass through the parents (not list them); each workspace is 0700, its uid's. */
  #ensureParents(): Promise<void> {
    this.#parents ??= (async () => {
      const parentMode = this.#jail.uids ? 0o711 : 0o700;
      for (const parent of [join(this.#workspaceRoot, 'sessions'), join(this.#workspaceRoot, 'run')]) {
        await mkdir(parent, { recursive: true, mode: parentMode });
        if (this.#jail.uids) await chmod(parent, parentMode); // a workspace root kept from an earlier, non-root run
      }
    })();
    this.#parents.catch(() => {
      this.#parents = undefined;
    });
    return this.#parents;
  }

  /** A kernel started for one context in the session's space (made if the session has none). */
  async #ownKernel(session: string, language: Language, scratchDirs: string[]): Promise<PooledKernel> {
    let space = this.#spaces.get(session);
    if (!space) {
      space = this.#ensureParents().then(() => SessionSpace.open(this.#spaceSettings));
      this.#bindSpace(session, space);
    }
    const ready = await space;
    return { space: ready, kernel: await this.#startKernel(ready, language, { scratchDirs, tenant: this.#tenantOf(session) }) };
  }

  /**
   * A kernel in the space: `spare` for the pool; `egress` the context's route (a restart), else a
   * fresh one; `tenant` when known, whose CPU quota it starts under (a spare joins one when taken).
   */
  async #startKernel(
    space: SessionSpace,
    language: Language,
    { scratchDirs, spare = false, egress = this.#egress?.route(), tenant }: KernelStart = {},
  ): Promise<RunningKernel> {
    // A kernel that died during shutdown is not replaced: its context is being closed.
    if (this.#closed) throw new Refusal('unavailable', 'the sandbox is shutting down');
    const launcher = this.#launchers[language];
    if (!launcher) throw new Error(`no launcher for ${language}`);
    return RunningKernel.start(launcher, {
      language,
      workspace: space.workspace,
      workspaceMount: WORKSPACE_MOUNT,
      runRoot: space.runRoot,
      memoryMb: this.#limits.perProcessMemoryMb,
      allowNetwork: this.#options.allowNetwork,
      scratchDirs,
      cgroup: () => this.#limits.kernelCgroup(tenant),
      watch: (pid, stop) => this.#limits.watchKernel(pid, stop),
      hostUid: space.hostUid,
      seccomp: this.#jail.seccomp,
      spare,
      env: packageEnv(this.#options),
      egress,
      connection: { maxMessageBytes: kernelMessageBytes(this.#options) },
    });
  }
}
