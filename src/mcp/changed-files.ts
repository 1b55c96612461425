/**
 * Which files a run created or changed in its context's workspace: a listing before
 * and one after (bounded in depth and entries), compared by size and modification
 * time. Cheap enough to do on every run_code in a context, so an agent sees "wrote
 * out/report.csv" without asking; a sandbox without a file API simply shows none.
 * Hidden files are left out.
 */
import { WORKSPACE_DIR } from '../sandbox/protocol.ts';
import { workspacePartsIfInside } from '../sandbox/workspace-path.ts';
import type { ToolDeps } from './tool-definition.ts';
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
