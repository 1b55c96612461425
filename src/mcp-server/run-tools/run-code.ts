import type { CallToolResult } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { Execution } from '../sandbox-client/client.ts';
import { changedFiles, filesFromEvent, snapshotWorkspace } from '../file-tools/changed-files.ts';
import { runTag } from './request-cancel.ts';
import { createRunProgress } from './run-progress.ts';
import { encodeRunId } from './run-ids.ts';
import { DEFAULT_WAIT_SECONDS, RunOutput, renderExecution, waitSecondsParam } from './run-output.ts';
import { createTenantContext } from '../tools/tenant-contexts.ts';
import { ContextIdParam, LanguageParam, releaseSessionIfEmpty } from '../tools/context-params.ts';
import { decodeContextId } from '../tools/tenant-contexts.ts';
import { failureOf, unknownContext } from '../tools/tool-failure.ts';
import { defineTool, type ToolDeps } from '../tools/tool-definition.ts';
import { discardedFilesNote, withNote } from './one-off-files.ts';
import { boundRunResult } from './bounded-output.ts';
import { MAX_RUN_TIMEOUT_SECONDS } from '../../protocol/limits.ts';
import { SHOWN_IN_VIEW } from '../apps/result-view.ts';
import { withViewData } from '../apps/result-tables.ts';

export const runCode = defineTool({
  name: 'run_code',
  title: 'Run code',
  description:
    'Runs code and returns its stdout, stderr, the value of the last expression, rich results and any error (name, message, traceback). ' +
    'With context_id, runs in that context: variables, imports and files persist between calls (create one with create_context). ' +
    'With only language (or nothing, meaning python), runs once in a fresh context that is removed right after the call, so nothing persists. ' +
    "Charts (e.g. matplotlib plt.show()) come back as images, and as data in the result's chart field. Output streams as log/progress notifications during long runs. " +
    'A run that raises or exceeds timeout_seconds is reported as an error result. ' +
    `Long runs: after wait_seconds (default ${DEFAULT_WAIT_SECONDS}) the answer is status "running" with the output so far and a run_id; ` +
    'the run goes on, and wait_run collects the rest and the result (cancel_run stops it). The sandbox has no network access unless its operator enabled it.',
  inputSchema: z.object({
    code: z.string().min(1).describe('The code to run, as you would type it into a notebook cell.'),
    context_id: ContextIdParam.optional().describe(
      'Run in this context (from create_context or list_contexts). When given, language is ignored.',
    ),
    language: LanguageParam.optional().describe(
      'Without context_id: run once in a fresh context of this language ("python" by default, "javascript", "typescript").',
    ),
    timeout_seconds: z
      .number()
      .positive()
      .max(MAX_RUN_TIMEOUT_SECONDS)
      .optional()
      .describe('Stop the run after this many seconds (default set by the server, typically 300). The context survives a timeout.'),
    wait_seconds: waitSecondsParam(
      'Answer after at most this many seconds: a run still going then keeps running, and the answer has status "running", ' +
        'its output so far and a run_id for wait_run / cancel_run',
      { zero: false },
    ),
  }),
  outputSchema: RunOutput,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  _meta: SHOWN_IN_VIEW,
  async handler({ code, context_id, language, timeout_seconds, wait_seconds }, deps, call) {
    const timeout = timeout_seconds ?? deps.settings.runTimeoutSeconds;
    const wait = wait_seconds ?? DEFAULT_WAIT_SECONDS;
    // Past `wait` the sandbox holds the run and ends the stream; a run that cannot outlast the wait needs no holding.
    const hold_after = wait < timeout ? wait : undefined;
    // A cancel from another request (2025 form over HTTP) finds the execution by this tag.
    const tag = call.requestId === undefined ? undefined : runTag(deps.tenant, call.requestId);
    const progress = createRunProgress(call);
    const started = performance.now();

    if (context_id !== undefined) {
      const address = decodeContextId(deps, context_id);
      if (!address) return unknownContext(context_id);
      try {
        // Listings around the run only for a sandbox that does not report what a run changed (or not known to yet).
        const before = deps.sandbox.features.reportsFiles ? undefined : await snapshotWorkspace(deps, address.session);
        const execution = await deps.sandbox.execute(
          address.session,
          { code, context_id: address.sandboxContextId, timeout, tag, report_files: true, hold_after },
          { signal: call.signal, onEvent: progress.onEvent },
        );
        await progress.finish();
        if (execution.heldAs !== undefined) {
          return boundRunResult(renderRunning(execution, deps, started, address.session, false), deps, {
            contextId: context_id,
            session: address.session,
          });
        }
        const files = execution.filesChanged
          ? filesFromEvent(execution.filesChanged, context_id)
          : await changedFiles(deps, address.session, context_id, before);
        const bounded = await boundRunResult(
          renderExecution(execution, deps, started, { files, notes: notHeld(started, hold_after) }),
          deps,
          {
            contextId: context_id,
            session: address.session,
          },
        );
        return withViewData(bounded, execution, deps, address);
      } catch (error) {
        await progress.finish();
        return failureOf(error, context_id);
      }
    }

    // One-off run: a fresh context, always removed, even when the run fails; a held run's goes
    // when its end has been collected (or expired), which the sandbox sees to (discard_context).
    let session: string | undefined;
    let sandboxContextId: string | undefined;
    let held = false;
    try {
      // Counted against the tenant's cap like any context, for as long as it runs.
      const created = await createTenantContext(deps, { language: language ?? 'python', description: 'one-off run_code' });
      session = created.session;
      sandboxContextId = created.context.id;
      const execution = await deps.sandbox.execute(
        session,
        { code, context_id: sandboxContextId, timeout, tag, hold_after, discard_context: true },
        { signal: call.signal, onEvent: progress.onEvent },
      );
      await progress.finish();
      if (execution.heldAs !== undefined) {
        held = true;
        return await boundRunResult(renderRunning(execution, deps, started, session, true), deps, { session });
      }
      const bounded = await boundRunResult(renderExecution(execution, deps, started, { notes: notHeld(started, hold_after) }), deps, {
        session,
      });
      return withViewData(withNote(bounded, await discardedFilesNote(deps, session)), execution, deps, { session });
    } catch (error) {
      await progress.finish();
      return failureOf(error);
    } finally {
      if (session !== undefined && !held) {
        if (sandboxContextId !== undefined) {
          await deps.sandbox
            .deleteContext(session, sandboxContextId)
            .catch((error: unknown) => deps.logger.warn('could not remove one-off context', { error: String(error) }));
        }
        await releaseSessionIfEmpty(deps, session);
      }
    }
  },
});

/** The answer for a run the sandbox holds: its output so far, a run_id and how to go on. */
function renderRunning(execution: Execution, deps: ToolDeps, started: number, session: string, oneOff: boolean): CallToolResult {
  const runId = encodeRunId(deps, { session, run: execution.heldAs! });
  const seconds = Math.round((performance.now() - started) / 1000);
  const notes = [
    `The run is still going after ${seconds} s and keeps running in the sandbox (run_id: ${runId}). ` +
      'Call wait_run with this run_id to collect the output that follows and the final result (each call waits up to its wait_seconds), ' +
      `or cancel_run to stop it.${oneOff ? ' Its one-off context is removed once the result has been collected.' : ' The context runs nothing else meanwhile.'}`,
  ];
  return renderExecution(execution, deps, started, { runningAs: runId, notes });
}

/** A run longer than its wait that the sandbox did not hold: say why the call waited for its end. */
function notHeld(started: number, holdAfter: number | undefined): string[] | undefined {
  if (holdAfter === undefined || performance.now() - started < holdAfter * 1000) return undefined;
  return [`(This sandbox cannot hold runs: the call waited for the end instead of answering after ${holdAfter} s.)`];
}
