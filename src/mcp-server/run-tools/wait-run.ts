import { z } from 'zod';
import { ExecutionFold } from '../sandbox-client/execution.ts';
import { parseExecutionEvent } from '../../protocol/sandbox-api.ts';
import { filesFromEvent } from '../file-tools/changed-files.ts';
import { releaseSessionIfEmpty } from '../tools/context-params.ts';
import { RunIdParam, withRun } from './run-params.ts';
import { DEFAULT_WAIT_SECONDS, RunOutput, renderExecution, waitSecondsParam } from './run-output.ts';
import { encodeContextId } from '../tools/tenant-contexts.ts';
import { boundRunResult } from './bounded-output.ts';
import { defineTool } from '../tools/tool-definition.ts';
import { SHOWN_IN_VIEW } from '../apps/result-view.ts';
import { withViewData } from '../apps/result-tables.ts';

export const waitRun = defineTool({
  name: 'wait_run',
  title: 'Wait for a running run_code',
  description:
    'Collects what a run_code that answered status "running" produced since it was last collected (never twice, in order: stdout, stderr, results, charts), ' +
    'waiting up to wait_seconds for the run to end. While it goes on the answer has status "running" again; at its end, the final result as run_code gives it ' +
    '(the error if it raised, files_changed), holding the output not collected before. Any server instance can serve it.',
  inputSchema: z.object({
    run_id: RunIdParam,
    wait_seconds: waitSecondsParam('Wait at most this long for the run to end; 0 answers at once', { zero: true }),
  }),
  outputSchema: RunOutput,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  _meta: SHOWN_IN_VIEW,
  async handler({ run_id, wait_seconds }, deps) {
    const started = performance.now();
    return withRun(deps, run_id, async ({ session, run }) => {
      const read = await deps.sandbox.runEvents(session, run, { wait_seconds: wait_seconds ?? DEFAULT_WAIT_SECONDS, until: 'end' });
      const fold = new ExecutionFold();
      for (const raw of read.events) {
        const event = parseExecutionEvent(JSON.stringify(raw));
        if (event) fold.add(event);
      }
      const execution = fold.execution();
      const contextId = encodeContextId(deps, { session, sandboxContextId: read.context_id });
      // Bounded and linked as run_code's answers: a one-off run's workspace goes with it, so nothing is saved there.
      const savedTo = { session, contextId: read.discard_context || read.context_discarded ? undefined : contextId };
      if (read.status === 'running') {
        const running = renderExecution(execution, deps, started, {
          runningAs: run_id,
          notes: ['The run is still going. Call wait_run again with the same run_id for what follows, or cancel_run to stop it.'],
        });
        return boundRunResult(running, deps, savedTo);
      }
      if (read.context_discarded) await releaseSessionIfEmpty(deps, session);
      const files = execution.filesChanged && !read.context_discarded ? filesFromEvent(execution.filesChanged, contextId) : [];
      const collectedBefore = read.events.length === 0 ? ['(The run has ended; its output was all collected before.)'] : undefined;
      // A run read to its end: whatever the stream said, the sandbox's own record is complete.
      const bounded = await boundRunResult(
        renderExecution({ ...execution, complete: true }, deps, started, { files, notes: collectedBefore }),
        deps,
        savedTo,
      );
      return withViewData(bounded, execution, deps, read.context_discarded ? { session } : { session, sandboxContextId: read.context_id });
    });
  },
});
