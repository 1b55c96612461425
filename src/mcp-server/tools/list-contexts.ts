import { z } from 'zod';
import { encodeContextId, listTenantContexts } from './tenant-contexts.ts';
import { failureOf } from './tool-failure.ts';
import { defineTool, toolResult } from './tool-definition.ts';

const ContextEntry = z.object({
  context_id: z.string(),
  language: z.string(),
  description: z.string(),
  created_at: z.string().nullable(),
  last_used: z.string().nullable(),
  status: z.literal('active'),
});

export const listContexts = defineTool({
  name: 'list_contexts',
  title: 'List code contexts',
  description:
    "Lists every live code context of yours (other callers' are not shown): context_id, language, description, created_at, last_used (when the last run ended, if known) and status. " +
    'Use it to find a context_id again or to see what is still running; it changes nothing.',
  inputSchema: z.object({}),
  outputSchema: z.object({ contexts: z.array(ContextEntry) }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(_args, deps) {
    try {
      const contexts = (await listTenantContexts(deps)).map(({ session, context }) => ({
        context_id: encodeContextId(deps, { session, sandboxContextId: context.id }),
        language: context.language,
        description: context.metadata?.description ?? '',
        created_at: context.created_at ?? null,
        last_used: context.last_used ?? null,
        status: 'active' as const,
      }));
      contexts.sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? ''));
      const text =
        contexts.length === 0
          ? 'no live contexts'
          : contexts
              .map((c) => `${c.context_id}  ${c.language}${c.description ? `  "${c.description}"` : ''}  created ${c.created_at ?? '?'}`)
              .join('\n');
      return toolResult({ contexts }, text);
    } catch (error) {
      return failureOf(error);
    }
  },
});
