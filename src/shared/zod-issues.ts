/**
 * How a zod failure reads, everywhere (tool arguments, /invoke events, environment
 * variables, the sandbox service's options and requests): `path: message` per
 * issue, joined by "; ", with `root` naming the whole value when an issue has no path.
 */
import type { z } from 'zod';

export interface DescribeIssuesOptions {
  /** Names the place an issue points at, given its dotted path (e.g. an option → its environment variable). */
  name?: (path: string) => string;
  /** The text given at that place, quoted after the message; undefined leaves it out (e.g. for a secret). */
  given?: (path: string) => string | undefined;
}

export function describeIssues(error: z.ZodError, root: string, options: DescribeIssuesOptions = {}): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.');
      const name = path === '' ? root : (options.name?.(path) ?? path);
      const given = path === '' ? undefined : options.given?.(path);
      return `${name}: ${issue.message}${given !== undefined ? ` (got "${given}")` : ''}`;
    })
    .join('; ');
}
