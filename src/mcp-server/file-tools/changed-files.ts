/**
 * Which files a run created or changed in its context's workspace, so an agent sees "wrote
 * out/report.csv" without asking. The sandbox service says so itself, in the execute stream
 * (`files_changed`, asked for with `report_files`); for a sandbox that does not, a listing
 * before and one after (bounded in depth and entries), compared by size and modification
 * time. A sandbox without a file API simply shows none. Hidden files are left out.
 */
import { type FilesChangedEvent, WORKSPACE_DIR } from '../../protocol/sandbox-api.ts';
import { workspacePartsIfInside } from '../../protocol/workspace-path.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';
import { fileUri } from './workspace-files.ts';

/** Folders deeper than this are not looked into. */
const DEPTH = 3;
/** At most this many links in one result. */
const MAX_LINKS = 20;

export interface ChangedFile {
  path: string;
  name: string;
  size: number | null;
  uri: string;
}

type Snapshot = Map<string, string> | undefined;

/** The files of the sandbox's own `files_changed` event, as links (the listing's rules: inside the workspace, not hidden, bounded). */
export function filesFromEvent(event: FilesChangedEvent, contextId: string): ChangedFile[] {
  const changed: ChangedFile[] = [];
  for (const file of event.files) {
    const parts = workspacePartsIfInside(file.path);
    if (!parts || parts.length === 0 || parts.some((part) => part.startsWith('.'))) continue;
    changed.push({ path: file.path, name: parts.at(-1)!, size: file.size ?? null, uri: fileUri(contextId, parts) });
    if (changed.length >= MAX_LINKS) break;
  }
  return changed;
}

export async function snapshotWorkspace(deps: ToolDeps, session: string): Promise<Snapshot> {
  try {
    const listing = await deps.sandbox.listFiles(session, WORKSPACE_DIR, DEPTH);
    return new Map(
      listing.entries.filter((entry) => entry.type === 'file').map((entry) => [entry.path, `${entry.size}:${entry.modifiedTime}`]),
    );
  } catch {
    return undefined; // no file API, or the context is gone: the run itself says what matters
  }
}

/** The files that are new or different since `before`; none when either listing is missing. */
export async function changedFiles(deps: ToolDeps, session: string, contextId: string, before: Snapshot): Promise<ChangedFile[]> {
  if (!before) return [];
  try {
    const listing = await deps.sandbox.listFiles(session, WORKSPACE_DIR, DEPTH);
    const changed: ChangedFile[] = [];
    for (const entry of listing.entries) {
      if (entry.type !== 'file' || before.get(entry.path) === `${entry.size}:${entry.modifiedTime}`) continue;
      const parts = workspacePartsIfInside(entry.path);
      // Hidden files and folders are tools' state (caches, checkpoints), not results.
      if (!parts || parts.some((part) => part.startsWith('.'))) continue;
      changed.push({ path: entry.path, name: entry.name, size: entry.size ?? null, uri: fileUri(contextId, parts) });
      if (changed.length >= MAX_LINKS) break;
    }
    return changed;
  } catch {
    return [];
  }
}
