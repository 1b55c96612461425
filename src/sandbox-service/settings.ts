/**
 * The sandbox service's settings: one zod schema (defaults included). The SANDBOX_*
 * variables that set them are named, each with the option it sets, by the protocol's
 * `SandboxEnv`, which npm start's config shares (so an option's comment here does not
 * name its variable again); the caller passes the environment in, nothing here reads
 * process.env.
 */
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { SandboxEnv } from '../protocol/service-env.ts';
import { TOKEN_PATTERN, TOKEN_RULE } from '../shared/bearer-token.ts';
import { type Env, parseEnv } from '../shared/env.ts';
import { isLoopbackHost } from '../shared/local-request.ts';
import { DEFAULT_SESSION_HEADER, SessionHeaderName } from '../protocol/sandbox-api.ts';
import { describeIssues } from '../shared/zod-issues.ts';
import { hostKeyOf, parsePatternList, parsePatterns } from './egress/host-patterns.ts';
import {
  CONTEXT_START_TIMEOUT_SECONDS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_RUN_TIMEOUT_SECONDS,
  MAX_RUN_TIMEOUT_SECONDS,
} from '../protocol/limits.ts';

const positiveInt = z.number().int().positive();

/** SANDBOX_TENANT_CPUS' default: half the host's CPUs, at least one. */
export const DEFAULT_TENANT_CPUS = Math.max(1, Math.floor(availableParallelism() / 2));

/** SANDBOX_EGRESS_ALLOW's default: the package indexes (pip's and npm's). */
export const DEFAULT_EGRESS_ALLOW: readonly string[] = ['pypi.org', 'files.pythonhosted.org', 'registry.npmjs.org'];

/** Host patterns, comma-separated (a variable's text) or as a list; an issue is named by its option (or variable) as any other. */
const hostPatterns = z.union([z.string(), z.array(z.string())]).transform((value, ctx) => {
  try {
    return typeof value === 'string' ? parsePatternList(value) : parsePatterns(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const HeaderValues = z.record(
  z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a header name'),
  z.string().regex(/^[^\r\n\0]*$/, 'must be one line'),
);

/** SANDBOX_EGRESS_HEADERS: JSON text or the object; keys become normalised host names (no patterns, no ports). */
const egressHeaders = z.union([z.string(), z.record(z.string(), z.unknown())]).transform((value, ctx) => {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected JSON: {"host": {"Header": "value"}}' });
      return z.NEVER;
    }
  }
  const shape = z.record(z.string(), HeaderValues).safeParse(parsed);
  if (!shape.success) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected {"host": {"Header": "value"}}: header names as HTTP allows them, values of one line',
    });
    return z.NEVER;
  }
  const byHost: Record<string, Record<string, string>> = {};
  for (const [host, headers] of Object.entries(shape.data)) {
    const key = hostKeyOf(host);
    if (!key || key.includes('*')) {
      ctx.addIssue({ code: 'custom', message: `"${host.slice(0, 100)}" is not a host name (no pattern, scheme or port)` });
      return z.NEVER;
    }
    byHost[key] = { ...byHost[key], ...headers };
  }
  return byHost;
});
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
    /**
     * The hosts any context's network policy may allow: the ceiling, as host
     * patterns (egress/host-patterns.ts), comma-separated; `*` = any host. Default: the package indexes.
     */
    egressAllow: hostPatterns.default(() => [...DEFAULT_EGRESS_ALLOW]),
    /** Host patterns whose loopback or private addresses the policy proxy may reach; default none. */
    egressPrivateHosts: hostPatterns.default(() => []),
    /**
     * Headers the proxy adds, over TLS, to every request for a host: JSON
     * `{"host": {"Header": "value"}}`, keyed by host name without a port. A secret: never repeated in errors.
     */
    egressHeaders: egressHeaders.default(() => ({})),
    /** With the jail off: accept network policies the sandbox cannot enforce, proxy variables set anyway. */
    egressAdvisory: z.boolean().default(false),
    /**
     * Whether kernels run in the bubblewrap jail (jail-mode.ts): `auto` where a probe
     * shows namespaces work, `on` or no start, `off` never; case and blanks aside, empty = auto.
     */
    jail: z.preprocess(
      (value) => (typeof value === 'string' ? value.trim().toLowerCase() || undefined : value),
      z.enum(['auto', 'on', 'off']).default('auto'),
    ),
    /** Memory of everything one context runs (its processes and its tmpfs files), MiB; 0 = none. See docs/limits.md. */
    memoryMb: nonNegativeInt.default(2048),
    /** Processes (and threads) one context may run at once; 0 = none. */
    pidsMax: nonNegativeInt.default(256),
    /** CPUs one context may use (a CFS quota, fractions allowed, at least 0.01); 0 = none. */
    cpus: z.union([z.literal(0), z.number().min(0.01).max(1024)]).default(1),
    /**
     * CPUs all the contexts of one tenant may use together (a tenant is the
     * quota's session prefix, else the session); 0 = none. By default half the host's, at least one:
     * what one tenant runs leaves the other half to the server and the others.
     */
    tenantCpus: z.union([z.literal(0), z.number().min(0.01).max(1024)]).default(DEFAULT_TENANT_CPUS),
    /** Size of a session's workspace (its contexts share it), MiB; 0 = none. */
    diskMb: nonNegativeInt.default(1024),
    maxContexts: positiveInt.default(100),
    /** Seconds an execution may run when the request names no timeout. */
    executeTimeoutSeconds: z.number().positive().default(DEFAULT_RUN_TIMEOUT_SECONDS),
    /** Upper bound on a requested timeout. */
    maxExecuteTimeoutSeconds: z.number().positive().default(MAX_RUN_TIMEOUT_SECONDS),
    /** Bytes of output (text and rich results) one execution may produce before it is stopped. */
    outputLimitBytes: positiveInt.default(4 * 1024 * 1024),
    /**
     * The largest message a kernel may send this process, bytes; a kernel sending a larger one is
     * stopped as dead. Default: kernelMessageBytes(), just above the output cap in its JSON.
     */
    kernelMessageBytes: positiveInt.optional(),
    /** Output events (stream messages, results, errors) one execution may produce before it is stopped. */
    maxOutputEvents: positiveInt.default(50_000),
    /** Runs one context may have waiting for it behind the one it runs. */
    maxQueuedRuns: positiveInt.default(8),
    /** Runs one session may have going, waiting or held unread together. */
    maxSessionRuns: positiveInt.default(16),
    /** MiB of code runs waiting for their context may hold, in all sessions; one session at most half. */
    queuedCodeMb: positiveInt.default(64),
    /** How long a context's creation may take, seconds (no variable: the MCP side waits for the same figure). */
    contextStartTimeoutSeconds: z.number().positive().default(CONTEXT_START_TIMEOUT_SECONDS),
    /** A context unused this long is removed; 0 = never. */
    idleTimeoutSeconds: nonNegativeInt.default(1800),
    /** Pre-started kernels kept ready, in total, for the most recently active sessions; 0 = none. */
    poolSize: nonNegativeInt.default(2),
    /** Where session workspaces and kernel run directories live; the default is removed on close(). */
    workspaceRoot: z.string().min(1).optional(),
    /** The largest request body but a file's (POST /files and uploads follow maxUploadMb), bytes. */
    maxBodyBytes: positiveInt.default(DEFAULT_MAX_BODY_BYTES),
    /** The largest file one request may write (upload or POST /files), MiB. */
    maxUploadMb: positiveInt.default(100),
    /** The largest file one request may read (GET /files, download), MiB. */
    maxReadMb: positiveInt.default(100),
    /**
     * A root server's first session uid: sessions get uids from here up, unique
     * across every sandbox of the host (session-uids.ts). Keep the range clear of real users.
     */
    uidBase: z.number().int().min(1000).max(4_294_000_000).default(200_000),
    /** The simple index install_packages and `%pip install` use (PEP 503): packages/package-env.ts. */
    pipIndexUrl: z.url({ protocol: /^https?$/ }).default('https://pypi.org/simple'),
    /** The registry install_packages uses for JavaScript and TypeScript contexts. */
    npmRegistry: z.url({ protocol: /^https?$/ }).default('https://registry.npmjs.org/'),
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

/**
 * Variable → the option it sets, as SandboxEnv's fields pair them (`.meta({ option })`); of two
 * variables for one option, the later wins. docs/sandbox.md's table lists each variable with its
 * option's default (test/repo/settings-docs.fast.test.ts).
 */
export const SANDBOX_ENV_OPTIONS: ReadonlyArray<readonly [keyof SandboxEnv, keyof SandboxOptionsInput]> = Object.entries(
  SandboxEnv.shape,
).map(([name, schema]) => {
  const option = schema.meta()?.option;
  // A pairing the protocol cannot check (it does not import this program): a wrong one stops every start at once.
  if (typeof option !== 'string' || !Object.hasOwn(SandboxOptions.shape, option)) {
    throw new Error(`${name}: SandboxEnv pairs it with no option of SandboxOptions (${String(option)})`);
  }
  return [name as keyof SandboxEnv, option as keyof SandboxOptionsInput] as const;
});

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

/**
 * The largest message a kernel may send: as set, else twice the output cap and 1 MiB (output
 * up to the cap grows in its JSON, e.g. quotes and newlines escaped: a message that carries no
 * more than the cap fits).
 */
export function kernelMessageBytes(options: Pick<SandboxOptions, 'kernelMessageBytes' | 'outputLimitBytes'>): number {
  return options.kernelMessageBytes ?? 2 * options.outputLimitBytes + 1024 * 1024;
}

/** Options whose values an error must not repeat. */
const SECRET_OPTIONS = new Set(['apiToken', 'egressHeaders']);

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
      return SECRET_OPTIONS.has(option) || value === undefined ? undefined : String(value);
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
