/**
 * The embedded sandbox's settings: one zod schema (defaults included) and the
 * mapping from SANDBOX_* environment variables onto it. The caller passes the
 * environment in; nothing here reads process.env.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { isLoopbackHost } from '../net/local-request.ts';
import { DEFAULT_SESSION_HEADER, SessionHeaderName } from '../sandbox/protocol.ts';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

export const SandboxOptions = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    /**
     * Callers must send it as `X-Access-Token` (E2B's header for a sandbox's own API).
     * `npm start` sets a random one that only its MCP side knows; required beyond loopback.
     */
    apiToken: z
      .string()
      .regex(/^[A-Za-z0-9._~+/-]{16,}=*$/, 'must be at least 16 characters of letters, digits and ._~+/-')
      .optional(),
    /** 0 = any free port. */
    port: z.number().int().min(0).max(65535).default(5001),
    /** Lower-cased header name that namespaces contexts; FC forbids the `x-fc-` prefix for affinity headers. */
    sessionHeader: SessionHeaderName.default(DEFAULT_SESSION_HEADER),
    allowNetwork: z.boolean().default(false),
    /** Memory of everything one context runs (its processes and its tmpfs files), MiB; 0 = none. See docs/limits.md. */
    memoryMb: nonNegativeInt.default(2048),
    /** Processes (and threads) one context may run at once; 0 = none. */
    pidsMax: nonNegativeInt.default(256),
    /** Size of a session's workspace (its contexts share it), MiB; 0 = none. */
    diskMb: nonNegativeInt.default(1024),
    maxContexts: positiveInt.default(100),
    /** Seconds an execution may run when the request names no timeout. */
    executeTimeoutSeconds: z.number().positive().default(300),
    /** Upper bound on a requested timeout. */
    maxExecuteTimeoutSeconds: z.number().positive().default(3600),
    /** Bytes of output (text and rich results) one execution may produce before it is stopped. */
    outputLimitBytes: positiveInt.default(4 * 1024 * 1024),
    /** A context unused this long is removed; 0 = never. */
    idleTimeoutSeconds: nonNegativeInt.default(1800),
    /** Pre-started kernels kept ready, in total, for the most recently active sessions; 0 = none. */
    poolSize: nonNegativeInt.default(2),
    /** Where session workspaces and kernel run directories live; the default is removed on close(). */
    workspaceRoot: z.string().min(1).optional(),
    /** The largest file one request may write (upload or POST /files), MiB. */
    maxUploadMb: positiveInt.default(100),
    /** The largest file one request may read (GET /files, download), MiB. */
    maxReadMb: positiveInt.default(100),
    /** A `keepalive` line is sent after this many seconds without any other line. */
    keepaliveSeconds: z.number().positive().default(5),
  })
  .refine((o) => o.apiToken !== undefined || isLoopbackHost(o.host), {
    message: 'a sandbox bound beyond loopback needs an API token (SANDBOX_API_TOKEN): without one, anyone who reaches it runs code',
    path: ['apiToken'],
  })
  .refine((o) => o.executeTimeoutSeconds <= o.maxExecuteTimeoutSeconds, {
    message: 'the default execute timeout must not exceed the maximum',
    path: ['executeTimeoutSeconds'],
  });
export type SandboxOptions = z.output<typeof SandboxOptions>;
export type SandboxOptionsInput = z.input<typeof SandboxOptions>;

/** Environment variable → option, with how its text is read. */
const ENV_MAP: Array<[string, keyof SandboxOptionsInput, 'string' | 'number' | 'boolean']> = [
  ['SANDBOX_HOST', 'host', 'string'],
  ['SANDBOX_PORT', 'port', 'number'],
  ['SANDBOX_API_TOKEN', 'apiToken', 'string'],
  ['SANDBOX_SESSION_HEADER', 'sessionHeader', 'string'],
  ['SANDBOX_ALLOW_NETWORK', 'allowNetwork', 'boolean'],
  // The old name of SANDBOX_MEMORY_MB, still read; the new name wins when both are set.
  ['SANDBOX_KERNEL_MEMORY_MB', 'memoryMb', 'number'],
  ['SANDBOX_MEMORY_MB', 'memoryMb', 'number'],
  ['SANDBOX_PIDS_MAX', 'pidsMax', 'number'],
  ['SANDBOX_DISK_MB', 'diskMb', 'number'],
  ['SANDBOX_MAX_CONTEXTS', 'maxContexts', 'number'],
  ['SANDBOX_EXECUTE_TIMEOUT_SECONDS', 'executeTimeoutSeconds', 'number'],
  ['SANDBOX_MAX_EXECUTE_TIMEOUT_SECONDS', 'maxExecuteTimeoutSeconds', 'number'],
  ['SANDBOX_OUTPUT_LIMIT_BYTES', 'outputLimitBytes', 'number'],
  ['SANDBOX_IDLE_TIMEOUT_SECONDS', 'idleTimeoutSeconds', 'number'],
  ['SANDBOX_POOL_SIZE', 'poolSize', 'number'],
  ['SANDBOX_WORKSPACE_ROOT', 'workspaceRoot', 'string'],
  ['SANDBOX_KEEPALIVE_SECONDS', 'keepaliveSeconds', 'number'],
  ['SANDBOX_MAX_UPLOAD_MB', 'maxUploadMb', 'number'],
  ['SANDBOX_MAX_READ_MB', 'maxReadMb', 'number'],
];

const OPTION_TO_ENV = new Map(ENV_MAP.map(([env, option]) => [option as string, env]));

/** Thrown with a one-line message naming the variable and what is wrong with it. */
export class SandboxOptionsError extends Error {
  override name = 'SandboxOptionsError';
}

/** Validates options given in code (defaults filled in); throws SandboxOptionsError. */
export function parseSandboxOptions(input: SandboxOptionsInput = {}, describe = (path: string) => path): SandboxOptions {
  const parsed = SandboxOptions.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join('.');
    throw new SandboxOptionsError(`${describe(path)}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Reads SANDBOX_* variables (unset or empty = default). Throws SandboxOptionsError
 * with a one-line message such as `SANDBOX_PORT: expected an integer from 0 to 65535, got "abc"`.
 */
export function parseSandboxEnv(env: Record<string, string | undefined>): SandboxOptions {
  const input: Record<string, unknown> = {};
  for (const [name, option, kind] of ENV_MAP) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    if (kind === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new SandboxOptionsError(`${name}: expected a number, got "${raw}"`);
      input[option] = value;
    } else if (kind === 'boolean') {
      const value = { true: true, '1': true, yes: true, false: false, '0': false, no: false }[raw.toLowerCase()];
      if (value === undefined) throw new SandboxOptionsError(`${name}: expected true or false, got "${raw}"`);
      input[option] = value;
    } else {
      input[option] = raw;
    }
  }
  return parseSandboxOptions(input as SandboxOptionsInput, (path) => OPTION_TO_ENV.get(path) ?? path);
}

/** The default workspace root's parent: a fresh directory is made under it per server. */
export function defaultWorkspaceParent(): string {
  return join(tmpdir(), 'fc-ci-sandbox-');
}
