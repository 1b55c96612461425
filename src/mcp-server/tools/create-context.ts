import { z } from 'zod';
import { LanguageParam, NetworkParam, NetworkReport, networkOf, networkPolicyOf } from './context-params.ts';
import { createTenantContext, encodeContextId } from './tenant-contexts.ts';
import { failureOf } from './tool-failure.ts';
import { defineTool, toolResult } from './tool-definition.ts';

export const createContext = defineTool({
  name: 'create_context',
  title: 'Create a code context',
  description:
    'Starts a new stateful code context (a Jupyter kernel) for Python, JavaScript, TypeScript, bash or R and returns its context_id. ' +
    'Variables, imports, functions and files persist between run_code calls that pass this context_id, until stop_context. ' +
    'Create one context per independent task, and stop it when done. Python has numpy, pandas and matplotlib.',
  inputSchema: z.object({
    language: LanguageParam.default('python').describe(
      'The language of the context: "python" (default), "javascript" or "typescript" (JS/TS run in Deno), "bash" (one persistent shell: cd and variables carry over) or "r".',
    ),
    description: z.string().max(500).optional().describe('A short note on what the context is for; list_contexts shows it.'),
    network: NetworkParam.default('none'),
  }),
  outputSchema: z.object({
    context_id: z.string().describe('Pass this to run_code and stop_context.'),
    language: z.string(),
    description: z.string(),
    created_at: z.string(),
    network: NetworkReport,
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async handler({ language, description, network }, deps) {
    try {
      const { session, context } = await createTenantContext(deps, { language, description, network: networkPolicyOf(network) });
      const structured = {
        context_id: encodeContextId(deps, { session, sandboxContextId: context.id }),
        language: context.language,
        description: description ?? '',
        created_at: context.created_at ?? new Date().toISOString(),
        network: networkOf(context),
      };
      const reach = structured.network === 'none' ? 'no network' : `network: ${structured.network.allow.join(', ')}`;
      return toolResult(structured, `created ${structured.language} context ${structured.context_id} (${reach})`);
    } catch (error) {
      return failureOf(error);
    }
  },
});
