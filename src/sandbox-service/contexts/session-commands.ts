/**
 * Shell commands of a session (AgentRun's POST /processes/cmd): each runs as the session's
 * code does, in a jail of its own over the session's workspace, under its uid, seccomp
 * filter, network mode and a cgroup with a context's limits, and is bounded like an
 * execution: a timeout, an output cap (stdout and stderr together), and at most
 * MAX_COMMANDS_PER_SESSION at once. The jail's pid namespace ends with the command, so
 * nothing it started in the background outlives it. A command holds its session's space:
 * the session's end stops it before the workspace goes, and a session holding only files
 * is not idle while one runs. Nothing here is kept after a command ends.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { constants } from 'node:os';
import type { CommandResult, ProcessInfo } from '../../protocol/agentrun-api.ts';
import { UNKNOWN_SESSION_REFUSAL, WORKSPACE_DIR } from '../../protocol/sandbox-api.ts';
import { baseKernelEnv, lendRunDir, spawnJailed } from '../jail/bubblewrap.ts';
import type { JailedProcess } from '../jail/jail-command.ts';
import type { EgressRoute } from '../egress/context-egress.ts';
import { SpaceEndedError } from './session-space.ts';
import type { CommandJail } from './context-registry.ts';
import { Refusal } from '../refusal.ts';

/** Commands one session may run at once; past it, 429. */
export const MAX_COMMANDS_PER_SESSION = 4;

export interface SessionCommandsDeps {
  /** The session's jail (its space opened as a file route would, with `open`). */
  jailFor(session: string, open: boolean): Promise<CommandJail>;
  outputLimitBytes: number;
}

export interface CommandParams {
  command: string;
  cwd?: string;
  timeoutMs: number;
  /** May open the session's space (the request did not say the session must exist). */
  open: boolean;
  /** Variables added to the jail's base environment (an installer's: packages/package-env.ts). */
  env?: Record<string, string>;
  /** The command's way out instead of the session's default (none allowed): an installer's, its context's with the index allowed. */
  egress?: EgressRoute;
  /**
   * Instead of the session's address-space limit (RLIMIT_AS), 0 for none: V8 cannot start under one
   * (deno-kernel.ts), so a Deno command sets its own RLIMIT_DATA; the cgroup holds it either way.
   */
  memoryMb?: number;
  /** bwrap arguments the command adds after the common mounts (a binary it runs), given its run directory. */
  extraArgs?: (runDir: string) => Promise<string[]>;
}

interface RunningCommand {
  info: ProcessInfo;
  kill(reason: string): Promise<void>;
}

export class SessionCommands {
  readonly #deps: SessionCommandsDeps;
  /** session → pid → command, while it runs */
  readonly #running = new Map<string, Map<number, RunningCommand>>();
  /** session → commands counted in (from the request's arrival, before they have a pid) */
  readonly #counted = new Map<string, number>();

  constructor(deps: SessionCommandsDeps) {
    this.#deps = deps;
  }

  /** Runs the command to its end (or the sandbox's) and answers with its output. */
  async run(session: string, params: CommandParams): Promise<CommandResult> {
    const cwd = insideCwd(params.cwd);
    const counted = this.#counted.get(session) ?? 0;
    if (counted >= MAX_COMMANDS_PER_SESSION) {
      throw new Refusal(
        'at_capacity',
        `command limit reached: a session runs at most ${MAX_COMMANDS_PER_SESSION} commands at once; wait for one or DELETE /processes/{pid}`,
      );
    }
    this.#counted.set(session, counted + 1);
    try {
      return await this.#run(session, params, cwd);
    } finally {
      const left = this.#counted.get(session)! - 1;
      if (left > 0) this.#counted.set(session, left);
      else this.#counted.delete(session);
    }
  }

  list(session: string): ProcessInfo[] {
    return [...(this.#running.get(session)?.values() ?? [])].map((command) => command.info);
  }

  get(session: string, pid: number): ProcessInfo {
    return this.#find(session, pid).info;
  }

  /** Kills the command's whole tree; its own request answers with what it wrote until then. */
  async kill(session: string, pid: number): Promise<void> {
    await this.#find(session, pid).kill(`killed by DELETE /processes/${pid}`);
  }

  #find(session: string, pid: number): RunningCommand {
    const command = this.#running.get(session)?.get(pid);
    if (!command) throw new Refusal('not_found', `no running command with pid ${pid} in this session (it ended, or never ran here)`);
    return command;
  }

  async #run(session: string, params: CommandParams, cwd: string): Promise<CommandResult> {
    const jail = await this.#deps.jailFor(session, params.open);
    const { space } = jail;
    const runDir = join(space.runRoot, `cmd-${randomUUID()}`);
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    const cgroup = await jail.cgroup().catch(async (error) => {
      await rm(runDir, { recursive: true, force: true });
      throw error;
    });
    const cleanUp = () => Promise.all([cgroup.remove().catch(() => {}), rm(runDir, { recursive: true, force: true })]);
    let process: JailedProcess | undefined;
    let error: string | undefined;
    const kill = async (reason: string) => {
      error ??= reason;
      await process?.kill();
    };
    // Held before the spawn: a session that ends from here on stops the command first.
    let release: () => void;
    try {
      release = space.hold(() => kill('the session ended'));
    } catch (gone) {
      await cleanUp();
      throw gone instanceof SpaceEndedError ? new Refusal('unknown_session', `${UNKNOWN_SESSION_REFUSAL}: the session ended`) : gone;
    }
    try {
      await lendRunDir(runDir, space.hostUid);
      const extraArgs = await params.extraArgs?.(runDir);
      process = spawnJailed(
        {
          workspace: space.workspace,
          workspaceMount: jail.workspaceMount,
          runDir,
          cgroupDirs: cgroup.dirs,
          memoryMb: params.memoryMb ?? jail.memoryMb,
          extraArgs,
          allowNetwork: jail.allowNetwork,
          egress: params.egress ?? jail.egress,
          hostUid: space.hostUid,
          seccompFilter: jail.seccompFilter,
          env: { ...baseKernelEnv(jail.workspaceMount), ...jail.env, ...params.env },
          // Waits for the go (a line on stdin, sent once the jail's network is up, as a kernel's
          // code waits for it), then cd: a cwd missing or not a directory fails like bash's own cd.
          command: [
            '/bin/bash',
            '--norc',
            '--noprofile',
            '-c',
            `read -r _ || exit 125\ncd -- ${shellQuoted(cwd)} || exit 1\n${params.command}`,
          ],
        },
        { pipes: true },
      );
    } catch (failed) {
      release();
      await cleanUp();
      throw failed;
    }
    if (error !== undefined) void process.kill(); // the session ended during the spawn
    const started = process;
    started.stdin?.on('error', () => {}); // a command that died first: its exit says why
    // The go, then end-of-file: the command reads no input.
    started.network.then(
      () => started.stdin?.end('\n'),
      () => void kill('the network of its jail could not be set up: the command did not run'),
    );
    const info: ProcessInfo = {
      pid: process.pid,
      name: params.command.trim().split(/\s+/)[0] ?? '',
      command: params.command,
      cwd,
      status: 'running',
      startedAt: new Date().toISOString(),
    };
    const sessionRunning = this.#running.get(session) ?? new Map<number, RunningCommand>();
    this.#running.set(session, sessionRunning);
    sessionRunning.set(process.pid, { info, kill });

    // stdout and stderr share one cap, as an execution's output does.
    const limit = this.#deps.outputLimitBytes;
    let total = 0;
    const gather = (stream: NodeJS.ReadableStream | undefined, into: Buffer[]) =>
      new Promise<void>((resolve) => {
        if (!stream) return resolve();
        stream.on('data', (chunk: Buffer) => {
          const room = limit - total;
          if (room > 0) into.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
          total += chunk.length;
          if (total > limit) void kill(`output over ${limit} bytes (SANDBOX_OUTPUT_LIMIT_BYTES): the command was stopped`);
        });
        stream.once('end', resolve);
        stream.once('close', resolve);
        stream.once('error', () => resolve());
      });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => void kill(`timed out after ${params.timeoutMs / 1000} s: the command was stopped`), params.timeoutMs);
    const unwatch = jail.watch(process.pid, () => void kill('over the memory limit (SANDBOX_MEMORY_MB): the command was stopped'));
    try {
      const [exit] = await Promise.all([process.exited, gather(process.stdout, stdout), gather(process.stderr, stderr)]);
      const signal = exit.signal ? (constants.signals[exit.signal] ?? 9) : undefined;
      const exitCode = signal !== undefined ? 128 + signal : (exit.code ?? 1);
      const outcome = { stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), exitCode };
      return { ...outcome, pid: process.pid, command: params.command, cwd, ...(error ? { error } : {}), result: outcome };
    } finally {
      clearTimeout(timer);
      unwatch();
      sessionRunning.delete(process.pid);
      if (sessionRunning.size === 0 && this.#running.get(session) === sessionRunning) this.#running.delete(session);
      release();
      await cleanUp();
    }
  }
}

/** The cwd as the jail sees it: absolute, or relative to the workspace (default). */
function insideCwd(cwd: string | undefined): string {
  if (cwd === undefined || cwd === '') return WORKSPACE_DIR;
  if (cwd.includes('\0')) throw new Refusal('invalid_request', 'cwd must not contain NUL');
  return posix.resolve(WORKSPACE_DIR, cwd);
}

function shellQuoted(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
