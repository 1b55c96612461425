/**
 * set_network: changes what a live context's code may reach, without restarting its kernel
 * (variables, imports and files stay). A tool of its own rather than a create_context option
 * only: an agent finds out what it needs mid-task (a package index, one API), and recreating the
 * context would lose its state; E2B and Alibaba change a sandbox's rules at run time the same way.
 */
import { z } from 'zod';
import { ContextIdParam, NetworkParam, NetworkReport, networkOf, networkPolicyOf } from './context-params.ts';
import { decodeContextId } from './tenant-contexts.ts';
import { failureOf, unknownContext } from './tool-failure.ts';
import { defineTool, toolResult } from './tool-definition.ts';

export const setNetwork = defineTool({
  name: 'set_network',
  title: "Change a context's network",
  description:
    'Replaces what a live context\'s code may reach over http/https: "none", or {"allow": ["pypi.org", "*.example.com"]}. ' +
    'The kernel keeps running with its variables; the next request follows the new rule, and open connections to hosts no longer allowed are closed. ' +
    "Hosts beyond what the sandbox's operator allows fail with network_refused naming the host.",
  inputSchema: z.object({ context_id: ContextIdParam, network: NetworkParam }),
  outputSchema: z.object({ context_id: z.string(), network: NetworkReport }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler({ context_id, network }, deps) {
    const address = decodeContextId(deps, context_id);
    if (!address) return unknownContext(context_id);
    try {
      const context = await deps.sandbox.setNetwork(address.session, address.sandboxContextId, networkPolicyOf(network));
      const now = networkOf(context);
      const text = now === 'none' ? `context ${context_id}: no network` : `context ${context_id} may reach ${now.allow.join(', ')}`;
      return toolResult({ context_id, network: now }, text);
    } catch (error) {
      return failureOf(error, context_id);
    }
  },
});
