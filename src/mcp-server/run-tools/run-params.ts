/** What wait_run and cancel_run share: the run_id parameter and the refusal of an id that is not the caller's run. */
import type { CallToolResult } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { Refusal } from '../refusal.ts';
import { decodeRunId, type RunAddress } from './run-ids.ts';
import { failureOf, NOT_ISSUED_HERE, toolFailure } from '../tools/tool-failure.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';
import { MAX_ID_LENGTH } from '../context-ids/context-id.ts';

export const RunIdParam = z.string().min(1).max(MAX_ID_LENGTH).describe('The run_id of a run_code answer with status "running".');

export function unknownRun(runId: string, why = NOT_ISSUED_HERE): CallToolResult {
  return toolFailure(
    'unknown_run',
    `unknown run "${runId}": ${why}. A run's output is kept until it has been collected, or for 10 minutes after the run ended.`,
  );
}

/** Calls the sandbox about the caller's run; the run's address, or the failure to answer with. */
export async function withRun(
  deps: ToolDeps,
  runId: string,
  use: (address: RunAddress) => Promise<CallToolResult>,
): Promise<CallToolResult> {
  const address = decodeRunId(deps, runId);
  if (!address) return unknownRun(runId);
  try {
    return await use(address);
  } catch (error) {
    if (error instanceof Refusal && error.kind === 'sandbox_not_found') {
      return unknownRun(runId, 'it ended and its output was collected or expired, or its sandbox session ended');
    }
    return failureOf(error);
  }
}
