/**
 * A caller sees and touches only its own contexts. Context ids are signed for the
 * caller's tenant (an id of another tenant does not decode), sessions are opened
 * under the tenant's tag, and listing keeps what the tenant owns: its sessions, or in
 * a session shared by everyone (a sandbox that cannot list sessions), the contexts
 * whose metadata carries its tag.
 *
 * Every context a tenant creates (create_context, and run_code's one-off ones) counts
 * against its cap (MCP_MAX_CONTEXTS_PER_TENANT), and what counts is the truth outside
 * this function: the sandbox, given the tenant's quota with each creation (direct
 * mode), or the FC Session API (FC mode; src/mcp-server/sessions/fc.ts). Nothing is counted here
 * and then created, so parallel calls and several MCP instances cannot overshoot.
 */
import { tenantKey, tenantTag } from '../auth/tenant.ts';
import type { ContextAddress } from '../context-ids/context-id.ts';
import type { Context, Language } from '../../protocol/sandbox-api.ts';
import { Refusal } from '../refusal.ts';
import { type OpenedSession, TenantCapReached } from '../sessions/types.ts';
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

/**
 * A new context of the caller in a session of its own, counted against its cap: a
 * refusal throws a Refusal `too_many_contexts` whose message says what to do. A session
 * opened for a creation that fails is closed again.
 */
export async function createTenantContext(
  deps: ToolDeps,
  params: { language: Language; description?: string; network?: { allowOut: string[]; denyOut: string[] } },
): Promise<{ session: string; context: Context }> {
  const cap = deps.settings.maxContextsPerTenant;
  const tooMany = (held: string) =>
    new Refusal(
      'too_many_contexts',
      `you have ${held} (MCP_MAX_CONTEXTS_PER_TENANT=${cap}); ` +
        'stop one you no longer need with stop_context (list_contexts shows them), then create again',
    );
  const sessions = await deps.sessions();
  let opened: OpenedSession;
  try {
    opened = await sessions.open(tenantTag(deps.tenant), cap);
  } catch (error) {
    if (error instanceof TenantCapReached) throw tooMany(`${error.held} live contexts, the most one caller may hold`);
    throw error;
  }
  try {
    if (!opened.capKept) {
      // A sandbox that cannot count by session: counted here, which parallel calls can overshoot.
      const live = await listTenantContexts(deps);
      if (live.length >= cap) throw tooMany(`${live.length} live contexts, the most one caller may hold`);
    }
    const description = params.description;
    const context = await deps.sandbox
      .createContext(opened.id, {
        language: params.language,
        metadata: tenantMetadata(deps, description ? { description } : {}),
        ...(opened.quota ? { quota: opened.quota } : {}),
        ...(params.network && params.network.allowOut.length + params.network.denyOut.length > 0 ? params.network : {}),
      })
      .catch((error: unknown) => {
        // The sandbox kept the tenant's quota (direct mode): its message is the count, ours says what to do.
        throw error instanceof Refusal && error.kind === 'too_many_contexts' ? tooMany(error.message) : error;
      });
    // A sandbox that does not know network policies ignores the fields: its context would have another network than asked.
    if (params.network && params.network.allowOut.length > 0 && context.allowOut === undefined) {
      await deps.sandbox.deleteContext(opened.id, context.id).catch(() => {});
      throw new Refusal('network_refused', 'network policy refused: this sandbox does not support per-context network policies');
    }
    return { session: opened.id, context };
  } catch (error) {
    // FC deletes the session it opened for this context; direct mode has nothing to close.
    await sessions.close(opened.id).catch((closing: unknown) => deps.logger.warn('could not close session', { error: String(closing) }));
    throw error;
  }
}

/** What createContext stores with a context so listing can tell whose it is. */
function tenantMetadata(deps: ToolDeps, extra: Record<string, string> = {}): Record<string, string> {
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
        if (error instanceof Refusal && error.kind === 'sandbox_not_found') return { session, contexts: [] as Context[] };
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
