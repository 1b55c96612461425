/**
 * What an execution changed in its session's workspace, seen as the code sees it: the session's
 * file worker lists the workspace (inside the jail, as the sandbox user) before the code and
 * after it, and the files whose size or modification time differ are the `files_changed` event.
 * In-process, this spares the MCP side two listings over HTTP around every run.
 */
import type { ExecutionEvent } from '../../protocol/sandbox-api.ts';
import type { FileWorker } from './file-worker.ts';

/** Folders deeper than this are not looked into (as the MCP side's fallback listing). */
const DEPTH = 3;
/** At most this many files in one event. */
const MAX_FILES = 50;

/** Lists the workspace now; the function it returns lists it again and reports the difference. */
export async function watchWorkspace(files: () => Promise<FileWorker>): Promise<() => Promise<ExecutionEvent | undefined>> {
  const before = await snapshot(await files());
  return async () => {
    // Asked for again: a worker idle through a long run has ended (file-worker.ts), its space starts another.
    const after = await (await files()).list([], DEPTH);
    const changed: { path: string; size: number }[] = [];
    let truncated = false;
    for (const entry of after.entries) {
      if (entry.type !== 'file' || before.get(entry.path) === stamp(entry)) continue;
      // Hidden files and folders are tools' state (caches, checkpoints), not results.
      if (entry.path.split('/').some((part) => part.startsWith('.'))) continue;
      if (changed.length === MAX_FILES) {
        truncated = true;
        break;
      }
      changed.push({ path: entry.path, size: entry.size });
    }
    return { type: 'files_changed', files: changed, ...(truncated || after.truncated ? { truncated: true } : {}) };
  };
}

async function snapshot(files: FileWorker): Promise<Map<string, string>> {
  const listing = await files.list([], DEPTH);
  return new Map(listing.entries.filter((entry) => entry.type === 'file').map((entry) => [entry.path, stamp(entry)]));
}

function stamp(entry: { size: number; modifiedTime: string }): string {
  return `${entry.size}:${entry.modifiedTime}`;
}
