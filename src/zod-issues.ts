/**
 * How a zod failure reads, everywhere on the MCP side (tool arguments, /invoke
 * events): `path: message` per issue, joined by "; ", with `root` naming the whole
 * value when an issue has no path.
 */
import type { z } from 'zod';

export function describeIssues(error: z.ZodError, root: string): string {
  return error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : root}: ${issue.message}`).join('; ');
}
