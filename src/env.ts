/**
 * Environment variables: the schemas that turn a variable's text into a value, the
 * embedded sandbox's SANDBOX_* variables, and the one-line error that names a
 * variable. `src/config.ts` (npm start, stdio, FC) and the embedded sandbox's
 * `parseSandboxEnv` (npm run sandbox) read the sandbox's variables through the same
 * `SandboxEnv`, so each variable has one schema wherever it is read. This sits
 * outside src/local-sandbox because the FC bundle reads the config and must hold
 * no part of the embedded sandbox.
 */
import { z } from 'zod';
import type { SandboxOptionsInput } from './local-sandbox/options.ts';
import { SessionHeaderName } from './sandbox/protocol.ts';
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

/** A token as a variable may hold one (RFC 6750's b64token), so it can be sent in a header as it is. */
export const TOKEN_PATTERN = /^[A-Za-z0-9._~+/-]+=*$/;
export const TOKEN_RULE = 'letters, digits and . _ ~ + / - (then = padding)';

/**
 * The embedded sandbox's variables, each read as text here; what values its option
 * takes (ranges, the token's alphabet, how options depend on each other) is
 * `SandboxOptions`'s to say.
 */
export const SandboxEnv = z.object({
  SANDBOX_HOST: envText,
  SANDBOX_PORT: envNumber,
  /** The token callers must send; npm start also sends it (or makes one) as the MCP side's client. */
  SANDBOX_API_TOKEN: envText,
  /** Read by both sides of npm start: the MCP side sends it, the sandbox namespaces contexts by it. */
  SANDBOX_SESSION_HEADER: envText.pipe(SessionHeaderName.optional()),
  SANDBOX_ALLOW_NETWORK: envBoolean,
  /** The old name of SANDBOX_MEMORY_MB, still read; the new name wins when both are set. */
  SANDBOX_KERNEL_MEMORY_MB: envNumber,
  SANDBOX_MEMORY_MB: envNumber,
  SANDBOX_PIDS_MAX: envNumber,
  SANDBOX_DISK_MB: envNumber,
  SANDBOX_MAX_CONTEXTS: envNumber,
  SANDBOX_EXECUTE_TIMEOUT_SECONDS: envNumber,
  SANDBOX_MAX_EXECUTE_TIMEOUT_SECONDS: envNumber,
  SANDBOX_OUTPUT_LIMIT_BYTES: envNumber,
  SANDBOX_IDLE_TIMEOUT_SECONDS: envNumber,
  SANDBOX_POOL_SIZE: envNumber,
  SANDBOX_WORKSPACE_ROOT: envText,
  SANDBOX_KEEPALIVE_SECONDS: envNumber,
  SANDBOX_MAX_UPLOAD_MB: envNumber,
  SANDBOX_MAX_READ_MB: envNumber,
  SANDBOX_MAX_BODY_BYTES: envNumber,
  SANDBOX_UID_BASE: envNumber,
});
export type SandboxEnv = z.output<typeof SandboxEnv>;

/** Variable → the option it sets; of two variables for one option, the later wins. */
const SANDBOX_ENV_OPTIONS: ReadonlyArray<readonly [keyof SandboxEnv, keyof SandboxOptionsInput]> = [
  ['SANDBOX_HOST', 'host'],
  ['SANDBOX_PORT', 'port'],
  ['SANDBOX_API_TOKEN', 'apiToken'],
  ['SANDBOX_SESSION_HEADER', 'sessionHeader'],
  ['SANDBOX_ALLOW_NETWORK', 'allowNetwork'],
  ['SANDBOX_KERNEL_MEMORY_MB', 'memoryMb'],
  ['SANDBOX_MEMORY_MB', 'memoryMb'],
  ['SANDBOX_PIDS_MAX', 'pidsMax'],
  ['SANDBOX_DISK_MB', 'diskMb'],
  ['SANDBOX_MAX_CONTEXTS', 'maxContexts'],
  ['SANDBOX_EXECUTE_TIMEOUT_SECONDS', 'executeTimeoutSeconds'],
  ['SANDBOX_MAX_EXECUTE_TIMEOUT_SECONDS', 'maxExecuteTimeoutSeconds'],
  ['SANDBOX_OUTPUT_LIMIT_BYTES', 'outputLimitBytes'],
  ['SANDBOX_IDLE_TIMEOUT_SECONDS', 'idleTimeoutSeconds'],
  ['SANDBOX_POOL_SIZE', 'poolSize'],
  ['SANDBOX_WORKSPACE_ROOT', 'workspaceRoot'],
  ['SANDBOX_KEEPALIVE_SECONDS', 'keepaliveSeconds'],
  ['SANDBOX_MAX_UPLOAD_MB', 'maxUploadMb'],
  ['SANDBOX_MAX_READ_MB', 'maxReadMb'],
  ['SANDBOX_MAX_BODY_BYTES', 'maxBodyBytes'],
  ['SANDBOX_UID_BASE', 'uidBase'],
];

const OPTION_TO_ENV = new Map<string, string>(SANDBOX_ENV_OPTIONS.map(([name, option]) => [option, name]));

/** The sandbox's options as the variables set them; unset variables leave their option to its default. */
export function sandboxOptionsFromEnv(env: SandboxEnv): SandboxOptionsInput {
  const options: Record<string, unknown> = {};
  for (const [name, option] of SANDBOX_ENV_OPTIONS) {
    if (env[name] !== undefined) options[option] = env[name];
  }
  return options as SandboxOptionsInput;
}

/** The variable that sets a sandbox option (`port` → `SANDBOX_PORT`), for errors about options read from it. */
export function sandboxEnvName(option: string): string {
  return OPTION_TO_ENV.get(option) ?? option;
}

/** Variables whose value an error must not repeat. */
const SECRET_NAME = /TOKEN|SECRET|ACCESS_KEY/;

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
