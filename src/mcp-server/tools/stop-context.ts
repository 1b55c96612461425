import { z } from 'zod';
import { ContextIdParam, releaseSessionIfEmpty } from './context-params.ts';
import { decodeContextId } from './tenant-contexts.ts';
import { failureOf, unknownContext } from './tool-failure.ts';
import { defineTool, toolResult } from './tool-definition.ts';

export const stopContext = defineTool({
  name: 'stop_context',
  title: 'Stop a code context',
  description:
    'Stops a code context: its kernel ends, its variables are lost, and its workspace with every file in it is deleted (read_file what you need first). ' +
    'The context_id is then dead for good: run_code, the file tools and resources/read answer unknown_context for it and bring nothing back, ' +
    'and it no longer counts against your context limit or shows in list_contexts. Stopping a context that is already gone reports an error and changes nothing.',
  inputSchema: z.object({ context_id: ContextIdParam }),
  outputSchema: z.object({ success: z.boolean(), context_id: z.string(), message: z.string() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handler({ context_id }, deps) {
    const address = decodeContextId(deps, context_id);
    if (!address) return unknownContext(context_id);
    try {
      await deps.sandbox.deleteContext(address.session, address.sandboxContextId);
    } catch (error) {
      return failureOf(error, context_id);
    }
    await releaseSessionIfEmpty(deps, address.session);
    const message = `context ${context_id} stopped`;
    return toolResult({ success: true, context_id, message }, message);
  },
});
