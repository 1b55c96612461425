import { z } from 'zod';
import { RunIdParam, withRun } from './run-params.ts';
import { defineTool, toolResult } from '../tools/tool-definition.ts';

export const cancelRun = defineTool({
  name: 'cancel_run',
  title: 'Cancel a running run_code',
  description:
    'Stops a run that a run_code answered with status "running": the code is interrupted (a CancelledError ends it) and its context keeps its variables and files. ' +
    'wait_run with the same run_id then collects the output left and the final result.',
  inputSchema: z.object({ run_id: RunIdParam }),
  outputSchema: z.object({
    run_id: z.string(),
    status: z.enum(['running', 'done']).describe('"done" when the run had already ended'),
    message: z.string(),
  }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handler({ run_id }, deps) {
    return withRun(deps, run_id, async ({ session, run }) => {
      const { status } = await deps.sandbox.interruptRun(session, run);
      const message =
        status === 'done'
          ? `run ${run_id} had already ended; collect its result with wait_run`
          : `run ${run_id} is being interrupted; wait_run collects what is left and its end`;
      return toolResult({ run_id, status, message }, message);
    });
  },
});
