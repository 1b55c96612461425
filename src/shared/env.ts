/**
 * Environment variables as text: the schemas that turn a variable's text into a value,
 * and the one-line error that names a variable. Each program declares its own
 * variables with these (the MCP server's config.ts, the sandbox service's settings);
 * nothing here reads process.env.
 */
import { z } from 'zod';
import { describeIssues } from './zod-issues.ts';

export type Env = Record<string, string | undefined>;

/** A variable's text, trimmed; unset, empty or blank reads as undefined, so the default applies. */
export const envText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const BOOLEANS: Record<string, boolean> = { true: true, '1': true, yes: true, false: false, '0': false, no: false };

/** true/false, 1/0 or yes/no, in any case. */
export const envBoolean = envText.transform((v, ctx) => {
  if (v === undefined) return undefined;
  const value = BOOLEANS[v.toLowerCase()];
  if (value === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected true or false (or 1/0, yes/no)' });
    return z.NEVER;
  }
  return value;
});

/** A number as JavaScript reads one; the variable's own schema (piped after) says which numbers. */
export const envNumber = envText.transform((v, ctx) => {
  if (v === undefined) return undefined;
  const value = Number(v);
  if (!Number.isFinite(value)) {
    ctx.addIssue({ code: 'custom', message: 'expected a number' });
    return z.NEVER;
  }
  return value;
});

/** Variables whose value an error must not repeat. */
const SECRET_NAME = /TOKEN|SECRET|ACCESS_KEY|EGRESS_HEADERS/;

/**
 * Parses `env` with an object schema keyed by variable names. On failure throws
 * `fail(message)`, where the message is one line naming each bad variable, what is
 * wrong and the text it had (unless it holds a secret), e.g. `MCP_PORT: expected a number (got "eighty")`.
 */
export function parseEnv<Schema extends z.ZodType>(schema: Schema, env: Env, fail: (message: string) => Error): z.output<Schema> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  throw fail(describeIssues(parsed.error, 'environment', { given: (name) => (SECRET_NAME.test(name) ? undefined : env[name]) }));
}
