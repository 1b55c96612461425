/**
 * AgentRun's code and process routes (src/protocol/agentrun-api.ts): code run through the
 * same runs as /execute (same contexts, limits, timeout, output cap, interrupts), answered
 * as one JSON object at its end; shell commands run by SessionCommands in the session's
 * jail. Like the file routes, they open a session's workspace unless the request carries
 * EXISTING_SESSION_HEADER.
 */
import type { ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import type { Context as HonoContext, Hono } from 'hono';
import type { z } from 'zod';
import {
  AGENTRUN_ROUTES,
  AgentRunExecuteRequest,
  type AgentRunExecution,
  CommandRequest,
  type KilledProcess,
} from '../../protocol/agentrun-api.ts';
import { EXISTING_SESSION_HEADER, type ExecutionEvent, parseExecutionEvent } from '../../protocol/sandbox-api.ts';
import type { ContextRegistry } from '../contexts/context-registry.ts';
import type { Runs } from '../contexts/executions.ts';
import { Refusal } from '../refusal.ts';
import type { SessionCommands } from '../contexts/session-commands.ts';
import type { SandboxOptions } from '../settings.ts';

export interface AgentRunRouteDeps {
  registry: ContextRegistry;
  runs: Runs;
  commands: SessionCommands;
  options: SandboxOptions;
  sessionOf(c: HonoContext): string;
  parseBody<S extends z.ZodType>(c: HonoContext, schema: S): Promise<z.output<S>>;
}

export function addAgentRunRoutes(app: Hono, deps: AgentRunRouteDeps): void {
  const { registry, runs, commands, options, sessionOf, parseBody } = deps;
  const mayOpen = (c: HonoContext): boolean => c.req.header(EXISTING_SESSION_HEADER) === undefined;
  const timeoutMs = (seconds: number | undefined) =>
    Math.min(seconds ?? options.executeTimeoutSeconds, options.maxExecuteTimeoutSeconds) * 1000;

  app.post(AGENTRUN_ROUTES.execute, async (c) => {
    const session = sessionOf(c);
    const request = await parseBody(c, AgentRunExecuteRequest);
    const context =
      request.contextId !== undefined
        ? await registry.resolve(session, request.contextId)
        : await registry.defaultContext(session, request.language ?? 'python');
    // The same bounds as /execute: queued runs and waiting code are capped.
    const refusal = runs.refusal(session, context, request.code);
    if (refusal) return new Refusal('too_many_runs', refusal).getResponse();
    const events: ExecutionEvent[] = [];
    let closed = () => {};
    const streamEnded = new Promise<void>((resolve) => (closed = resolve));
    const run = runs.start(
      session,
      context,
      {
        code: request.code,
        timeoutMs: timeoutMs(request.timeout),
        outputLimitBytes: options.outputLimitBytes,
        outputLimitEvents: options.maxOutputEvents,
        keepaliveMs: options.keepaliveSeconds * 1000,
      },
      {
        // Bounded by the execution's output cap; keepalives are for streams only.
        push: (line) => {
          const event = parseExecutionEvent(line);
          if (event && event.type !== 'keepalive') events.push(event);
        },
        close: closed,
      },
    );
    // A client that goes away stops its code, as /execute's does.
    onClientGone(c, () => run.streamGone());
    await Promise.race([streamEnded, run.finished.catch(() => {})]);
    return c.json(gathered(context.id, events) satisfies z.input<typeof AgentRunExecution>);
  });

  app.get(AGENTRUN_ROUTES.context, (c) => c.json(registry.get(sessionOf(c), c.req.param('id')).toJSON()));

  app.post(AGENTRUN_ROUTES.cmd, async (c) => {
    const session = sessionOf(c);
    const request = await parseBody(c, CommandRequest);
    return c.json(
      await commands.run(session, { command: request.command, cwd: request.cwd, timeoutMs: timeoutMs(request.timeout), open: mayOpen(c) }),
    );
  });

  app.get(AGENTRUN_ROUTES.processes, (c) => c.json(commands.list(sessionOf(c))));

  app.get(AGENTRUN_ROUTES.process, (c) => c.json(commands.get(sessionOf(c), pidOf(c))));

  app.delete(AGENTRUN_ROUTES.process, async (c) => {
    const pid = pidOf(c);
    await commands.kill(sessionOf(c), pid);
    return c.json({ pid, killed: true } satisfies z.input<typeof KilledProcess>);
  });
}

/** The execution's events as one answer. */
function gathered(contextId: string, events: ExecutionEvent[]): AgentRunExecution {
  const answer: AgentRunExecution = { contextId, results: [], stdout: '', stderr: '', error: null, exitCode: 0 };
  for (const event of events) {
    if (event.type === 'stdout') answer.stdout += event.text;
    else if (event.type === 'stderr') answer.stderr += event.text;
    else if (event.type === 'result') {
      const { type: _type, ...result } = event;
      answer.results.push(result);
    } else if (event.type === 'error') {
      answer.error = { name: event.name, value: event.value, traceback: event.traceback };
      answer.exitCode = 1;
    } else if (event.type === 'number_of_executions') answer.executionCount = event.execution_count;
  }
  return answer;
}

function pidOf(c: HonoContext): number {
  const text = c.req.param('pid') ?? '';
  if (!/^\d{1,10}$/.test(text)) throw new Refusal('invalid_request', `a pid is a number, got "${text}"`);
  return Number(text);
}

function onClientGone(c: HonoContext, gone: () => void): void {
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing as ServerResponse | undefined;
  outgoing?.once('close', () => {
    if (!outgoing.writableFinished) gone();
  });
}
