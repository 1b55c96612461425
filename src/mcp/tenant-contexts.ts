/**
 * A caller sees and touches only its own contexts. Context ids are signed for the
 * caller's tenant (an id of another tenant does not decode), sessions are opened
 * under the tenant's tag, and listing keeps what the tenant owns: its sessions, or in
 * a session shared by everyone (a sandbox that cannot list sessions), the contexts
 * whose metadata carries its tag.
 */
import { tenantKey, tenantTag } from '../auth/tenant.ts';
import type { ContextAddress } from '../contexts/context-id.ts';
import { SandboxError } from '../sandbox/client.ts';
import type { Context } from '../sandbox/protocol.ts';
import type { ToolDeps } from './tool-definition.ts';

/** The metadata key that carries the tenant's tag on each context (extension). */
export const TENANT_METADATA = 'tenant';

export function encodeContextId(deps: ToolDeps, address: ContextAddress): string {
  return deps.contexts.encode(address, tenantKey(deps.tenant));
}

/** The address of an id the caller gave; undefined for an id that is not the caller's (or not ours at all). */
export function decodeContextId(deps: ToolDeps, contextId: string): ContextAddress | undefined {
  return deps.contexts.decode(contextId.trim(), tenantKey(deps.tenant));
}

/** A new session for one of the caller's contexts. */
export async function openTenantSession(deps: ToolDeps): Promise<string> {
  return (await deps.sessions()).open(tenantTag(deps.tenant));
}

/** What createContext stores with a context so listing can tell whose it is. */
export function tenantMetadata(deps: ToolDeps, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, [TENANT_METADATA]: tenantTag(deps.tenant) };
}

/** Every live context of the caller, with the session that holds it. */
export async function listTenantContexts(deps: ToolDeps): Promise<{ session: string; context: Context }[]> {
  const tag = tenantTag(deps.tenant);
  const sessions = await deps.sessions();
  const perSession = await Promise.all(
    (await sessions.list(tag)).map(async (session) => {
      try {
        return { session, contexts: await deps.sandbox.listContexts(session) };
      } catch (error) {
        // A session that ended between listing sessions and asking it holds nothing live.
        if (error instanceof SandboxError && error.kind === 'not_found') return { session, contexts: [] as Context[] };
        throw error;
      }
    }),
  );
  return perSession.flatMap(({ session, contexts }) =>
    contexts
      .filter((context) => {
        const marked = context.metadata?.[TENANT_METADATA];
        return marked === undefined ? sessions.ownedBy(session, tag) : marked === tag;
      })
      .map((context) => ({ session, context })),
  );
}
