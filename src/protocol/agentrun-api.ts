/**
 * AgentRun's code and process routes, as its Node SDK sends them
 * (Serverless-Devs/agentrun-sdk-nodejs, src/sandbox/api/code-interpreter-data.ts: camelCase
 * bodies, a plain JSON answer rather than /execute's stream). The SDK types every answer
 * as `any`; the answer shapes here are what its readers use (its Python SDK's toolset
 * reads `stdout`, `stderr` and `exitCode` of both answers, its README `pid`, `name` and
 * `status` of a process, its release notes `result.exitCode` of a command), the rest is
 * ours: docs/sandbox.md says what is assumed.
 */
import { z } from 'zod';
import { LanguageName, ResultEvent } from './sandbox-api.ts';

export const AGENTRUN_ROUTES = {
  /** POST AgentRunExecuteRequest → AgentRunExecution */
  execute: '/contexts/execute',
  /** GET → Context (sandbox-api.ts) */
  context: '/contexts/:id',
  /** POST CommandRequest → CommandResult */
  cmd: '/processes/cmd',
  /** GET → ProcessList: the session's commands still running */
  processes: '/processes',
  /** GET → ProcessInfo; DELETE → KilledProcess (the command's own answer says it was killed) */
  process: '/processes/:pid',
} as const;

/** POST /contexts/execute: `contextId` wins over `language` when both come (the SDK may send both). */
export const AgentRunExecuteRequest = z.object({
  code: z.string(),
  contextId: z.string().min(1).optional(),
  language: LanguageName.optional(),
  /** seconds (the SDK's default is 30); the sandbox's default and maximum apply as to /execute */
  timeout: z.number().positive().optional(),
});
export type AgentRunExecuteRequest = z.input<typeof AgentRunExecuteRequest>;

export const AgentRunError = z.object({ name: z.string(), value: z.string(), traceback: z.string() });

/** The whole execution at once: what /execute streams, gathered. */
export const AgentRunExecution = z.object({
  contextId: z.string(),
  /** the kernel's execution count, when it gave one */
  executionCount: z.number().int().optional(),
  /** rich values (the cell's own value, displays such as plots), as /execute's `result` events without `type` */
  results: z.array(ResultEvent.omit({ type: true })),
  stdout: z.string(),
  stderr: z.string(),
  /** the code's error, or the sandbox's (TimeoutError, OutputLimitExceeded, ...: SANDBOX_ERROR_NAMES) */
  error: AgentRunError.nullable(),
  /** 0, or 1 with an error */
  exitCode: z.number().int(),
});
export type AgentRunExecution = z.infer<typeof AgentRunExecution>;

/** POST /processes/cmd */
export const CommandRequest = z.object({
  /** run by bash (`bash -c`) */
  command: z.string().min(1),
  /** absolute, or relative to the workspace; default the workspace */
  cwd: z.string().optional(),
  /** seconds; the sandbox's default and maximum apply as to /execute */
  timeout: z.number().positive().optional(),
});
export type CommandRequest = z.input<typeof CommandRequest>;

const CommandOutcome = z.object({
  stdout: z.string(),
  stderr: z.string(),
  /** the command's exit code; 128 + the signal's number when it was killed */
  exitCode: z.number().int(),
});

export const CommandResult = CommandOutcome.extend({
  /** the id it had in GET /processes while it ran */
  pid: z.number().int(),
  command: z.string(),
  cwd: z.string(),
  /** why the sandbox ended it (timeout, output limit, DELETE /processes/:pid), when it did */
  error: z.string().optional(),
  /** the same outcome again, where AgentRun's release notes read it (`result.exitCode`) */
  result: CommandOutcome,
});
export type CommandResult = z.infer<typeof CommandResult>;

export const ProcessInfo = z.object({
  pid: z.number().int(),
  /** the command's first word */
  name: z.string(),
  command: z.string(),
  cwd: z.string(),
  status: z.literal('running'),
  /** ISO 8601 */
  startedAt: z.string(),
});
export type ProcessInfo = z.infer<typeof ProcessInfo>;

export const ProcessList = z.array(ProcessInfo);

export const KilledProcess = z.object({ pid: z.number().int(), killed: z.literal(true) });
