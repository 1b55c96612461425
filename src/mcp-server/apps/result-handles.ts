/**
 * Result handles: how the viewer names a table the sandbox saved in a context's workspace
 * (the Python prelude writes a long DataFrame to `.results/<id>.json.gz`), so that result_page can
 * read it page by page. Minted like run ids (src/mcp-server/run-tools/run-ids.ts): the context
 * id codec signs the address for the caller's tenant, so a handle is self-verifying, routes
 * itself to its session and is simply unknown to another tenant, with nothing kept here. The
 * signed address's second part is `res:<sandbox context id>:<file>`, which neither a sandbox
 * context id nor a run id (`run:`) starts with, so no id passes for another kind.
 */
import { CONTEXT_ID_PREFIX, type ContextAddress } from '../context-ids/context-id.ts';
import { decodeContextId, encodeContextId } from '../tools/tenant-contexts.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';

const HANDLE_PREFIX = 'res_';
const MARK = 'res:';
/** What the prelude names a saved table: a random hex name under the workspace's `.results` folder. */
const SAVED_TABLE = /^\.results\/[0-9a-f]{32}\.json\.gz$/;

export interface ResultAddress {
  session: string;
  /** The sandbox's id of the context whose workspace holds the table. */
  sandboxContextId: string;
  /** The table's path in that workspace, as the prelude reported it (`.results/<hex>.json.gz`). */
  file: string;
}

/** Whether a path the kernel reported is one the prelude writes; anything else gets no handle. */
export function isSavedTablePath(file: unknown): file is string {
  return typeof file === 'string' && SAVED_TABLE.test(file);
}

export function encodeResultHandle(deps: ToolDeps, { session, sandboxContextId, file }: ResultAddress): string {
  const address = { session, sandboxContextId: `${MARK}${sandboxContextId}:${file}` };
  return HANDLE_PREFIX + encodeContextId(deps, address).slice(CONTEXT_ID_PREFIX.length);
}

/** The address a handle names; undefined when it is not the caller's, altered, or no handle at all. */
export function decodeResultHandle(deps: ToolDeps, handle: string): ResultAddress | undefined {
  const trimmed = handle.trim();
  if (!trimmed.startsWith(HANDLE_PREFIX)) return undefined;
  const address: ContextAddress | undefined = decodeContextId(deps, CONTEXT_ID_PREFIX + trimmed.slice(HANDLE_PREFIX.length));
  if (!address?.sandboxContextId.startsWith(MARK)) return undefined;
  const rest = address.sandboxContextId.slice(MARK.length);
  const split = rest.lastIndexOf(':');
  const file = rest.slice(split + 1);
  if (split <= 0 || !isSavedTablePath(file)) return undefined;
  return { session: address.session, sandboxContextId: rest.slice(0, split), file };
}
