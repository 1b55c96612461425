/**
 * A one-off run_code (no context_id) runs in a throw-away context whose session, and
 * so whose workspace, goes with it. Code that saves a chart or a CSV there would lose
 * it without a word; this says so, and how to keep files.
 */
import type { CallToolResult } from '@modelcontextprotocol/server';
import { tenantTag } from '../auth/tenant.ts';
import { WORKSPACE_DIR } from '../../protocol/sandbox-api.ts';
import { workspacePartsIfInside } from '../../protocol/workspace-path.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';

const DEPTH = 3;
const SHOWN = 5;

/**
 * The note for a one-off run's result, or undefined when it wrote nothing. Only for a
 * session of the run's own (a sandbox that shares one session among all contexts keeps
 * the workspace, so nothing is discarded there); hidden files are tools' state, not results.
 */
export async function discardedFilesNote(deps: ToolDeps, session: string): Promise<string | undefined> {
  try {
    if (!(await deps.sessions()).ownedBy(session, tenantTag(deps.tenant))) return undefined;
    const listing = await deps.sandbox.listFiles(session, WORKSPACE_DIR, DEPTH);
    const written = listing.entries.filter((entry) => {
      const parts = workspacePartsIfInside(entry.path);
      return entry.type === 'file' && parts !== undefined && !parts.some((part) => part.startsWith('.'));
    });
    if (written.length === 0) return undefined;
    const names = written.slice(0, SHOWN).map((entry) => workspacePartsIfInside(entry.path)!.join('/'));
    const more = written.length > SHOWN ? ` and ${written.length - SHOWN} more` : '';
    return (
      `note: this run wrote ${written.length === 1 ? 'a file' : `${written.length} files`} (${names.join(', ')}${more}), ` +
      'discarded with its one-off context. To keep files, create_context and run the code with its context_id, then read_file them.'
    );
  } catch {
    return undefined; // no file API, or the listing failed: the run's own answer stands
  }
}

/** The result with `note` appended to its text block. */
export function withNote(result: CallToolResult, note: string | undefined): CallToolResult {
  if (!note) return result;
  const [first, ...rest] = result.content;
  if (first?.type !== 'text') return { ...result, content: [{ type: 'text', text: note }, ...result.content] };
  return { ...result, content: [{ ...first, text: `${first.text}\n\n${note}` }, ...rest] };
}
