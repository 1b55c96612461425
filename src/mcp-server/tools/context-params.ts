/**
 * Pieces several tools share: the language and context-id parameters and
 * releasing a session whose last context is gone.
 */
import { z } from 'zod';
import { MAX_ID_LENGTH } from '../context-ids/context-id.ts';
import { LANGUAGES, normalizeLanguage, unsupportedLanguage } from '../../protocol/sandbox-api.ts';
import type { ToolDeps } from './tool-definition.ts';

/**
 * python | javascript | typescript | bash | r; aliases (py, js, ts, sh, any case) are accepted too.
 * The wire's names and message (protocol's normalizeLanguage), listed as an enum for tools/list.
 */
export const LanguageParam = z.preprocess(
  (value) => (typeof value === 'string' ? (normalizeLanguage(value) ?? value) : value),
  z.enum(LANGUAGES, { error: (issue) => unsupportedLanguage(issue.input) }),
);

export const ContextIdParam = z.string().min(1).max(MAX_ID_LENGTH).describe('A context_id returned by create_context or list_contexts.');

/**
 * After a session's last context is gone, hand the session back (FC deletes it).
 * Direct mode's close() does nothing, so the listing that decides it is skipped there.
 */
export async function releaseSessionIfEmpty(deps: ToolDeps, session: string): Promise<void> {
  try {
    const sessions = await deps.sessions();
    if (sessions.mode === 'direct') return;
    const remaining = await deps.sandbox.listContexts(session);
    if (remaining.length === 0) await sessions.close(session);
  } catch (error) {
    deps.logger.warn('could not release sandbox session', { error: error instanceof Error ? error.message : String(error) });
  }
}
