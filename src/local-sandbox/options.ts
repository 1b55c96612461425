/**
 * The embedded sandbox's settings: one zod schema (defaults included). The SANDBOX_*
 * variables that set them are read by `src/env.ts`'s `SandboxEnv`, which npm start's
 * config shares; the caller passes the environment in, nothing here reads process.env.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { type Env, parseEnv, SandboxEnv, sandboxEnvName, sandboxOptionsFromEnv, TOKEN_PATTERN, TOKEN_RULE } from '../env.ts';
import { isLoopbackHost } from '../net/local-request.ts';
import { DEFAULT_SESSION_HEADER, SessionHeaderName } from '../sandbox/protocol.ts';
import { describeIssues } from '../zod-issues.ts';

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
      .refine(
        (token) => TOKEN_PATTERN.test(token) && token.replace(/=+$/, '').length >= 16,
        `must be at least 16 characters of ${TOKEN_RULE}`,
      )
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
    /** The largest request body, but a file's (POST /files and uploads follow maxUploadMb), bytes. */
    maxBodyBytes: positiveInt.default(8 * 1024 * 1024),
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

/** Thrown with a one-line message naming the variable and what is wrong with it. */
export class SandboxOptionsError extends Error {
  override name = 'SandboxOptionsError';
}

/**
 * Validates options (defaults filled in); throws SandboxOptionsError. `name` says
 * what to call an option in the message, e.g. the variable it was read from.
 */
export function parseSandboxOptions(input: SandboxOptionsInput = {}, name = (option: string) => option): SandboxOptions {
  const parsed = SandboxOptions.safeParse(input);
  if (!parsed.success) {
    // The token is a secret: an error does not repeat it.
    const given = (option: string) => {
      const value = (input as Record<string, unknown>)[option];
      return option === 'apiToken' || value === undefined ? undefined : String(value);
    };
    throw new SandboxOptionsError(describeIssues(parsed.error, 'options', { name, given }));
  }
  return parsed.data;
}

/**
 * Reads SANDBOX_* variables (unset or empty = default). Throws SandboxOptionsError
 * with a one-line message such as `SANDBOX_PORT: expected a number (got "abc")`.
 */
export function parseSandboxEnv(env: Env): SandboxOptions {
  const read = parseEnv(SandboxEnv, env, (message) => new SandboxOptionsError(message));
  return parseSandboxOptions(sandboxOptionsFromEnv(read), sandboxEnvName);
}

/** The default workspace root's parent: a fresh directory is made under it per server. */
export function defaultWorkspaceParent(): string {
  return join(tmpdir(), 'fc-ci-sandbox-');
}
