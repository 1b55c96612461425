/**
 * The one rule for the paths file requests name, applied by the MCP side (to refuse
 * early, with the agent's own words) and by the sandbox service (which must not
 * trust its callers): relative to the workspace, or absolute under it; never "..";
 * nothing that resolves outside.
 */
import { WORKSPACE_DIR } from './sandbox-api.ts';

const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;

export class WorkspacePathError extends Error {
  override name = 'WorkspacePathError';
}

/** The path's components below the workspace (`[]` is the workspace itself); throws WorkspacePathError. */
export function workspaceParts(path: string): string[] {
  if (path.includes('\0')) throw new WorkspacePathError(`path "${path.replaceAll('\0', '\\0')}" contains a NUL byte`);
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw new WorkspacePathError(`path is longer than ${MAX_PATH_BYTES} bytes`);
  let relative = path.trim();
  if (relative.startsWith('/')) {
    if (relative !== WORKSPACE_DIR && !relative.startsWith(`${WORKSPACE_DIR}/`)) {
      throw new WorkspacePathError(`path "${path}" is outside the workspace: give a path relative to ${WORKSPACE_DIR}, or one under it`);
    }
    relative = relative.slice(WORKSPACE_DIR.length);
  }
  const parts = relative.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new WorkspacePathError(`path "${path}" contains "..": paths stay inside the workspace`);
  const long = parts.find((part) => Buffer.byteLength(part) > MAX_NAME_BYTES);
  if (long) throw new WorkspacePathError(`"${long.slice(0, 40)}…" is longer than ${MAX_NAME_BYTES} bytes`);
  return parts;
}

/** The components of a path the sandbox reported, or undefined when it lies outside the workspace (a cloud image's own layout). */
export function workspacePartsIfInside(path: string): string[] | undefined {
  try {
    return workspaceParts(path);
  } catch {
    return undefined;
  }
}

/** The absolute path inside the context for workspace components. */
export function workspacePathOf(parts: readonly string[]): string {
  return parts.length === 0 ? WORKSPACE_DIR : `${WORKSPACE_DIR}/${parts.join('/')}`;
}
