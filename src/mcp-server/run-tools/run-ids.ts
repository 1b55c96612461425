/**
 * Run ids as the agent sees them: like context ids (src/mcp-server/context-ids/context-id.ts, whose codec
 * signs them), opaque, self-routing and bound to the tenant, so any instance can find a held
 * run in its sandbox session and another tenant's id is simply unknown. The signed address's
 * second part is `run:<sandbox run id>`, which no sandbox context id starts with, so a run id
 * never passes for a context id's address nor the other way round.
 */
import { CONTEXT_ID_PREFIX, type ContextAddress } from '../context-ids/context-id.ts';
import { decodeContextId, encodeContextId } from '../tools/tenant-contexts.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';

const RUN_PREFIX = 'run_';
const MARK = 'run:';

export interface RunAddress {
  session: string;
  /** The sandbox's own run id. */
  run: string;
}

export function encodeRunId(deps: ToolDeps, { session, run }: RunAddress): string {
  return RUN_PREFIX + encodeContextId(deps, { session, sandboxContextId: MARK + run }).slice(CONTEXT_ID_PREFIX.length);
}

/** The address of a run id the caller gave; undefined when it is not the caller's, altered, or no run id at all. */
export function decodeRunId(deps: ToolDeps, runId: string): RunAddress | undefined {
  const trimmed = runId.trim();
  if (!trimmed.startsWith(RUN_PREFIX)) return undefined;
  const address: ContextAddress | undefined = decodeContextId(deps, CONTEXT_ID_PREFIX + trimmed.slice(RUN_PREFIX.length));
  if (!address?.sandboxContextId.startsWith(MARK)) return undefined;
  return { session: address.session, run: address.sandboxContextId.slice(MARK.length) };
}
