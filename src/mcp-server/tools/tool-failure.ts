/**
 * The one failure model of the tools: whatever goes wrong in the user's domain is
 * thrown as a Refusal (refusal.ts: the sandbox refused or is unreachable, the FC
 * Session API failed, the caller is at its cap, a URL cannot be fetched) or returned
 * here directly (an unknown context, bad arguments), and becomes a tool result with
 * `isError`, a text an agent can act on and `structuredContent.error` a program can
 * branch on. Protocol errors (an unknown tool) are thrown by the server instead;
 * anything else thrown is a bug and is rethrown.
 */
import type { CallToolResult } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { Refusal, RefusalDetails, TOOL_FAILURE_KINDS, type ToolFailureKind } from '../refusal.ts';

/**
 * The failure's structuredContent, as every tool's listed outputSchema admits it
 * (tool-definition.ts): clients that check structuredContent against the schema
 * also when isError is set (the 1.x SDK, Inspector) must let our message through.
 */
export const ToolFailureOutput = z
  .object({
    error: z.object({
      kind: z.enum(TOOL_FAILURE_KINDS).describe('What went wrong, for a program to branch on'),
      message: z.string().describe('What went wrong and what to do about it'),
      ...RefusalDetails.shape,
    }),
  })
  .describe('The call failed (isError is true)');

export type ToolFailure = z.infer<typeof ToolFailureOutput>;

export function toolFailure(
  kind: ToolFailureKind,
  message: string,
  details: Omit<ToolFailure['error'], 'kind' | 'message'> = {},
): CallToolResult {
  const structured: ToolFailure = { error: { kind, message, ...details } };
  return { content: [{ type: 'text', text: message }], structuredContent: structured as unknown as Record<string, unknown>, isError: true };
}

/**
 * Why a signed id does not verify. Besides tampering, the usual cause is a restart with another secret: stdio and
 * loopback servers make a random CONTEXT_SECRET per process (the Inspector's stdio CLI starts one per call).
 */
export const NOT_ISSUED_HERE =
  'it was not issued by this server or was altered, or the server has restarted since with another CONTEXT_SECRET ' +
  '(without one set, each process makes its own: set CONTEXT_SECRET, 16+ characters, to keep ids valid across restarts)';

export function unknownContext(contextId: string): CallToolResult {
  return toolFailure(
    'unknown_context',
    `unknown context "${contextId}": ${NOT_ISSUED_HERE}. Call list_contexts to see live contexts, or create_context for a new one.`,
  );
}

/** Maps an error a tool caught; rethrows what is not a Refusal (a bug). */
export function failureOf(error: unknown, contextId?: string): CallToolResult {
  if (error instanceof Refusal) {
    if (error.kind === 'sandbox_not_found' && contextId) {
      return toolFailure(
        'unknown_context',
        `unknown or expired context "${contextId}": it was stopped or its sandbox session ended. Call create_context for a new one.`,
        { status: error.status },
      );
    }
    // FC's words say what it answered; the tool's say which sessions call that was.
    const message =
      error.kind === 'session_api' ? `sandbox sessions (FC Session API ${error.details.operation}): ${error.message}` : error.message;
    return toolFailure(error.kind, message, error.details);
  }
  throw error;
}
