/**
 * Pieces several tools share: the language parameter, context-id resolution and the
 * mapping of sandbox failures to tool errors.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { ContextAddress } from '../contexts/context-id.ts';
import { SandboxError } from '../sandbox/client.ts';
import { LANGUAGES, normalizeLanguage } from '../sandbox/protocol.ts';
import { toolError, type ToolDeps } from './tool.ts';

/** python | javascript | typescript; aliases (py, js, ts, any case) are accepted too. */
export const LanguageParam = z.preprocess(
  (value) => (typeof value === 'string' ? (normalizeLanguage(value) ?? value) : value),
  z.enum(LANGUAGES),
);

export const ContextIdParam = z
  .string()
  .min(1)
  .max(1024)
  .describe('A context_id returned by create_context or list_contexts.');

/** Decodes an id the agent gave; undefined means "refuse it before touching the sandbox". */
export function resolveContext(deps: ToolDeps, contextId: string): ContextAddress | undefined {
  return deps.contexts.decode(contextId.trim());
}

export function unknownContext(contextId: string): CallToolResult {
  return toolError(
    `unknown context "${contextId}": it was not issued by this server or was altered. Call list_contexts to see live contexts, or create_context for a new one.`,
  );
}

/** Sandbox failures become tool errors the agent can read; anything else is rethrown. */
export function sandboxFailure(error: unknown, contextId?: string): CallToolResult {
  if (error instanceof SandboxError) {
    if (error.kind === 'not_found' && contextId) {
      return toolError(
        `unknown or expired context "${contextId}": it was stopped or its sandbox session ended. Call create_context for a new one.`,
      );
    }
    return toolError(error.message);
  }
  throw error;
}

/**
 * After a session's last context is gone, hand the session back (FC deletes it).
 * Direct mode's close() does nothing, so the listing that decides it is skipped there.
 */
export async function releaseSessionIfEmpty(deps: ToolDeps, session: string): Promise<void> {
  if (deps.sessions.mode === 'direct') return;
  try {
    const remaining = await deps.sandbox.listContexts(session);
    if (remaining.length === 0) await deps.sessions.close(session);
  } catch (error) {
    deps.logger.warn('could not release sandbox session', { error: error instanceof Error ? error.message : String(error) });
  }
}
