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

const HostList = z.array(z.string().min(1).max(253)).max(256);

const ALLOW_DESCRIPTION =
  'Hosts the code may reach over http/https: a name ("pypi.org"), "*.example.com" (every name below example.com) or "*" (any), within what the operator allows; no scheme, port or path.';

/**
 * A context's network as an agent asks for it: "none" (no host at all, the default) or the hosts
 * it may reach through the sandbox's policy proxy (the sandbox's allowOut, E2B's name). No deny
 * list here (the sandbox API has denyOut): an optional property inside one branch of a union is
 * what OpenAI's strict function tools cannot take, and an allow-list says it all for an agent.
 */
export const NetworkParam = z
  .union([
    z.literal('none'),
    // Strict (additionalProperties: false) as every object a strict function tool may hold.
    z.strictObject({ allow: HostList.describe(ALLOW_DESCRIPTION) }),
  ])
  .describe(
    'What the code may reach: "none" (default: no network), or {"allow": ["pypi.org", "*.example.com"]}. Clients that honour HTTP_PROXY (pip, requests, curl, fetch) go through the sandbox\'s policy proxy; a host outside the list answers HTTP 403 "sandbox network policy: <host> is not allowed" at once. No DNS or raw sockets inside.',
  );
export type NetworkParam = z.infer<typeof NetworkParam>;

/** A context's network as it is reported: also the hosts refused, when the sandbox API set some (denyOut). */
export const NetworkReport = z.union([
  z.literal('none'),
  z.object({ allow: HostList.describe(ALLOW_DESCRIPTION), deny: HostList.optional().describe('Hosts refused even where allow matches.') }),
]);
export type NetworkReport = z.infer<typeof NetworkReport>;

/** The sandbox's fields for a network param. */
export function networkPolicyOf(network: NetworkParam): { allowOut: string[]; denyOut: string[] } {
  return network === 'none' ? { allowOut: [], denyOut: [] } : { allowOut: network.allow, denyOut: [] };
}

/** The network as a context reports it ("none" when it allows no host). */
export function networkOf(context: { allowOut?: string[]; denyOut?: string[] }): NetworkReport {
  const allow = context.allowOut ?? [];
  if (allow.length === 0) return 'none';
  const deny = context.denyOut ?? [];
  return deny.length > 0 ? { allow, deny } : { allow };
}
