/**
 * Cancelling a tools/call from another request. In the 2025 form over HTTP (both official
 * clients' default) a cancel is `notifications/cancelled {requestId}` on a new POST, which may
 * reach any instance and finds no trace of the call there: the call's execution is found in the
 * sandbox instead, by a tag that run_code gives it, made of the caller's tenant and the request
 * id. A cancel asks each of the tenant's sandbox sessions to interrupt the runs with that tag; an
 * other tenant's cancel makes another tag and stops nothing.
 *
 * Two clients of one tenant that use the same request id at the same moment share a tag: the
 * 2025 form gives a stateless server nothing else to tell them apart by.
 */
import { createHash } from 'node:crypto';
import { tenantKey, tenantTag, type Tenant } from '../auth/tenant.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';

export type RequestId = string | number;

/** The tag of the caller's request `requestId`: fixed length, bound to the tenant, unguessable from the id alone. */
export function runTag(tenant: Tenant, requestId: RequestId): string {
  const key = tenantKey(tenant);
  return createHash('sha256')
    .update(`run-tag.${key.length}:${key}.${JSON.stringify(requestId)}`)
    .digest('base64url')
    .slice(0, 32);
}

/**
 * Interrupts the caller's runs started by request `requestId`, in every session of the caller;
 * how many were found. `early` (default): a run that starts with it soon after is stopped too.
 */
export async function cancelRequest(deps: ToolDeps, requestId: RequestId, { early = true }: { early?: boolean } = {}): Promise<number> {
  const tag = runTag(deps.tenant, requestId);
  const sessions = await (await deps.sessions()).list(tenantTag(deps.tenant));
  const counts = await Promise.all(
    sessions.map((session) =>
      deps.sandbox.interruptTagged(session, tag, early ? undefined : false).catch((error: unknown) => {
        deps.logger.warn('could not pass a cancel to a sandbox session', { error: String(error) });
        return 0;
      }),
    ),
  );
  return counts.reduce<number>((sum, count) => sum + (count ?? 0), 0);
}
