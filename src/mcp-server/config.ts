/**
 * The MCP server's configuration: environment variables, with CLI flags of the same
 * meaning (`--port 3001` = `MCP_PORT=3001`), read once and validated once here. The
 * rest of the code receives a `Config`; nothing below this file reads process.env.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { isAcceptableUrl } from './auth/issuer-metadata.ts';
import { parseStaticTokens, type StaticToken } from './auth/static-tokens.ts';
import { SandboxEnv } from '../protocol/service-env.ts';
import { ConfigError } from '../shared/cli.ts';
import type { ConnectionBounds } from '../shared/listen-http.ts';
import { type Env, envBoolean, envNumber, envText, parseEnv } from '../shared/env.ts';
import { LOG_LEVELS, type LogLevel } from '../shared/logger.ts';
import { isLoopbackHost } from '../shared/local-request.ts';
import { DEFAULT_SESSION_HEADER, SessionId } from '../protocol/sandbox-api.ts';
import type { FcSessionsSettings } from './sessions/types.ts';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_RUN_TIMEOUT_SECONDS, MAX_RUN_TIMEOUT_SECONDS } from '../protocol/limits.ts';
import { DEFAULT_SESSION_ID } from './context-ids/context-id.ts';
import { DEFAULT_DEADLINE_MS, DEFAULT_MIN_BYTES_PER_SECOND } from './net/public-fetch-defaults.ts';
import { REFUSAL_DELAY_MS } from './http/tenant-requests.ts';

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();

/** write_file downloads held at once, per process: three files of MCP_MAX_FILE_BYTES' default, well within FC's 256 MB. */
export const DEFAULT_FETCH_MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024;
/** One tenant's write_file downloads, per process: a 20 MiB file in a little over a second. */
export const DEFAULT_FETCH_TENANT_BYTES_PER_SECOND = 16 * 1024 * 1024;
/** A tenant's requests in progress at once, per process: one per context of its cap, and room for list and file calls beside. */
export const DEFAULT_MAX_REQUESTS_PER_TENANT = 32;
/** A request's headers and body arrive within this (Node's own default is 300 s). */
export const DEFAULT_BODY_TIMEOUT_SECONDS = 30;
/** Open connections per process: FC sends an instance at most 50 requests at once; clients' kept-alive connections come beside them. */
export const DEFAULT_MAX_CONNECTIONS = 512;

/**
 * The MCP server's variables, each declared once here: its name (the key, so an issue names the
 * variable the user must fix), type, bounds, default and, for some, the CLI flag of the same
 * meaning (`.meta({ flag })`, read off into CLI_FLAGS); docs/configuration.md's table lists
 * them all (test/repo/settings-docs.fast.test.ts holds it to this schema).
 * The sandbox service's variables are read here too (npm start passes them on), with
 * the same schemas `npm run sandbox` reads them with.
 */
export const McpEnv = SandboxEnv.extend({
  // The sandbox's variable, which the MCP side sends its requests with too: a flag here.
  SANDBOX_SESSION_HEADER: SandboxEnv.shape.SANDBOX_SESSION_HEADER.meta({ flag: 'session-header' }),
  MCP_TRANSPORT: envText.pipe(z.enum(['http', 'stdio', 'sse']).default('http')).meta({ flag: 'transport' }),
  MCP_HOST: envText.pipe(z.string().default('127.0.0.1')).meta({ flag: 'host' }),
  MCP_PORT: envNumber.pipe(port.default(3000)).meta({ flag: 'port' }),
  MCP_PATH: envText
    .pipe(
      z
        .string()
        .regex(/^\/[\w\-./]*$/, 'must start with "/"')
        .default('/mcp'),
    )
    .meta({ flag: 'path' }),
  SANDBOX_URL: envText.pipe(z.url({ protocol: /^https?$/ }).optional()).meta({ flag: 'sandbox-url' }),
  LOG_LEVEL: envText.pipe(z.enum(LOG_LEVELS).optional()).meta({ flag: 'log-level' }),
  SANDBOX_SESSION_MODE: envText.pipe(z.enum(['direct', 'fc']).default('direct')).meta({ flag: 'session-mode' }),
  SANDBOX_SESSION_ID: envText.pipe(SessionId.default(DEFAULT_SESSION_ID)).meta({ flag: 'session-id' }),
  CONTEXT_SECRET: envText.pipe(z.string().min(16, 'must be at least 16 characters').optional()).meta({ flag: 'context-secret' }),
  MCP_AUTH_TOKEN: envText.meta({ flag: 'auth-token' }),
  MCP_ALLOW_UNAUTHENTICATED: envBoolean.pipe(z.boolean().default(false)).meta({ flag: 'allow-unauthenticated' }),
  // A write_file call carries its file base64-encoded in the body: room for a few MB.
  MCP_MAX_BODY_BYTES: envNumber.pipe(positiveInt.default(DEFAULT_MAX_BODY_BYTES)).meta({ flag: 'max-body-bytes' }),
  MCP_MAX_FILE_BYTES: envNumber.pipe(positiveInt.default(20 * 1024 * 1024)),
  /** What a tenant may hold of this process at once: requests in progress (0 = no cap). */
  MCP_MAX_REQUESTS_PER_TENANT: envNumber
    .pipe(z.number().int().nonnegative().default(DEFAULT_MAX_REQUESTS_PER_TENANT))
    .meta({ flag: 'max-requests-per-tenant' }),
  /** How long a refusal past MCP_MAX_REQUESTS_PER_TENANT waits before it is answered (tenant-requests.ts). */
  MCP_REFUSAL_DELAY_MS: envNumber.pipe(z.number().int().nonnegative().max(10_000).default(REFUSAL_DELAY_MS)),
  /** How long a request's headers and body may take to arrive (slow-body clients hold a connection). */
  MCP_BODY_TIMEOUT_SECONDS: envNumber
    .pipe(z.number().positive().max(3600).default(DEFAULT_BODY_TIMEOUT_SECONDS))
    .meta({ flag: 'body-timeout' }),
  /** Open connections the listener keeps; past it the oldest idle one gives way (0 = no cap). */
  MCP_MAX_CONNECTIONS: envNumber.pipe(z.number().int().nonnegative().default(DEFAULT_MAX_CONNECTIONS)).meta({ flag: 'max-connections' }),
  /** Comma-separated hosts write_file's url may reach though they resolve to private addresses. */
  MCP_FETCH_ALLOW_HOSTS: envText.transform((v) =>
    (v ?? '')
      .split(',')
      .map((host) => host.trim())
      .filter((host) => host !== ''),
  ),
  /** write_file's url: the whole download's deadline, and the slowest average it may keep (0 = none). */
  MCP_FETCH_TIMEOUT_SECONDS: envNumber.pipe(
    z
      .number()
      .positive()
      .default(DEFAULT_DEADLINE_MS / 1000),
  ),
  MCP_FETCH_MIN_BYTES_PER_SECOND: envNumber.pipe(z.number().int().nonnegative().default(DEFAULT_MIN_BYTES_PER_SECOND)),
  /** write_file's url: the bytes of downloads this process holds at once, all tenants together. */
  MCP_FETCH_MAX_BYTES_IN_FLIGHT: envNumber.pipe(positiveInt.default(DEFAULT_FETCH_MAX_BYTES_IN_FLIGHT)),
  /** write_file's url: the bytes per second one tenant's downloads take together, per process (0 = no pace). */
  MCP_FETCH_TENANT_BYTES_PER_SECOND: envNumber.pipe(z.number().int().nonnegative().default(DEFAULT_FETCH_TENANT_BYTES_PER_SECOND)),
  /** run_code's timeout when the call names none; at most what a call may ask for (run_code's cap). */
  RUN_TIMEOUT_SECONDS: envNumber
    .pipe(positiveInt.max(MAX_RUN_TIMEOUT_SECONDS).default(DEFAULT_RUN_TIMEOUT_SECONDS))
    .meta({ flag: 'run-timeout' }),
  // Callers and OAuth: who a caller is, and the OAuth 2.1 resource server
  /** The URL clients reach this server at (scheme, host, any prefix; no MCP path), e.g. https://ci.example.com */
  MCP_PUBLIC_URL: envText.pipe(z.url({ protocol: /^https?$/ }).optional()).meta({ flag: 'public-url' }),
  /** The authorization server whose access tokens are accepted (its `iss`). */
  MCP_OAUTH_ISSUER: envText.pipe(z.url({ protocol: /^https?$/ }).optional()).meta({ flag: 'oauth-issuer' }),
  /** The `aud` tokens must carry; default MCP_PUBLIC_URL + MCP_PATH. */
  MCP_OAUTH_AUDIENCE: envText.meta({ flag: 'oauth-audience' }),
  /** Scopes every access token must carry, space- or comma-separated. */
  MCP_OAUTH_SCOPES: envText.meta({ flag: 'oauth-scopes' }),
  /** Live contexts one tenant may hold. */
  MCP_MAX_CONTEXTS_PER_TENANT: envNumber.pipe(positiveInt.default(20)).meta({ flag: 'max-contexts-per-tenant' }),
  /** The most bytes of run output an answer carries per field (head and tail; the rest is saved as a file). */
  MCP_MAX_TEXT_BYTES: envNumber
    .pipe(
      z
        .number()
        .int()
        .min(1024)
        .default(32 * 1024),
    )
    .meta({ flag: 'max-text-bytes' }),
  // FC session mode (src/mcp-server/sessions/types.ts FcSessionsSettings)
  SANDBOX_FUNCTION_NAME: envText,
  SANDBOX_FUNCTION_QUALIFIER: envText.pipe(z.string().default('LATEST')),
  SESSION_API_ENDPOINT: envText,
  SESSION_API_PROTOCOL: envText.pipe(z.enum(['http', 'https']).default('https')),
  SANDBOX_SESSION_TTL_SECONDS: envNumber.pipe(z.number().int().min(1).max(21600).default(3600)),
  SANDBOX_SESSION_IDLE_SECONDS: envNumber.pipe(z.number().int().min(0).max(21600).default(1800)),
  FC_REGION: envText,
  FC_ACCOUNT_ID: envText,
  ALIBABA_CLOUD_ACCESS_KEY_ID: envText,
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: envText,
  ALIBABA_CLOUD_SECURITY_TOKEN: envText,
});

export type McpVariable = keyof z.input<typeof McpEnv>;

/** CLI flag → the variable of the same meaning, as McpEnv's fields name them (`.meta({ flag })`). */
export const CLI_FLAGS: Readonly<Record<string, McpVariable>> = Object.fromEntries(
  Object.entries(McpEnv.shape).flatMap(([variable, schema]): [string, McpVariable][] => {
    const flag = schema.meta()?.flag;
    return typeof flag === 'string' ? [[flag, variable as McpVariable]] : [];
  }),
);

export const DEFAULT_SANDBOX_URL = 'http://localhost:5001';

/**
 * The MCP server's one settings object: read and checked once (loadConfig), then passed
 * down whole (the tools get their part as ToolSettings). Each field names the variable
 * that sets it; that variable's default, bounds and CLI flag are McpEnv's to say (and
 * docs/configuration.md's table shows them). Only a default loadConfig applies after the
 * schema is said here, as `@default` (test/mcp-server/settings-defaults.fast.test.ts holds
 * both rules).
 */
export interface Config {
  /** MCP_TRANSPORT. */
  transport: 'http' | 'stdio' | 'sse';
  /** MCP_HOST. */
  host: string;
  /** MCP_PORT; 0 = any free port. */
  port: number;
  /** MCP_PATH: the MCP endpoint's path. */
  path: string;
  /** SANDBOX_URL as given; undefined means "not set" (npm start then starts the sandbox service). @default undefined */
  sandboxUrlSetting?: string;
  /** SANDBOX_URL or its default. @default DEFAULT_SANDBOX_URL ('http://localhost:5001') */
  sandboxUrl: string;
  /** SANDBOX_API_TOKEN: sent to the sandbox service on every call when set. @default undefined */
  sandboxApiToken?: string;
  /**
   * The SANDBOX_* variables as read, for the sandbox service npm start starts unless SANDBOX_URL
   * is set: it turns them into its settings (and says what is wrong with them) itself.
   * @default each undefined (the sandbox service's settings default them)
   */
  embeddedSandbox: SandboxEnv;
  /**
   * LOG_LEVEL. Over stdio the default is 'warn': clients such as OpenAI's MCPServerStdio show the
   * server's stderr to the user, who should not read a line per tool call. @default 'info' ('warn' over stdio)
   */
  logLevel: LogLevel;
  /** SANDBOX_SESSION_HEADER, lower-cased. @default DEFAULT_SESSION_HEADER ('x-ci-session-id') */
  sessionHeader: string;
  /** SANDBOX_SESSION_MODE. */
  sessionMode: 'direct' | 'fc';
  /** SANDBOX_SESSION_ID: direct mode's one sandbox session. */
  sessionId: string;
  /** CONTEXT_SECRET: the HMAC key of context ids. @default a random one per process, on loopback in direct mode or stdio only */
  contextSecret: string;
  /** True when CONTEXT_SECRET was unset and a random per-process one was made. @default true (CONTEXT_SECRET unset) */
  contextSecretEphemeral: boolean;
  /** MCP_AUTH_TOKEN: accepted static bearer tokens, each naming its tenant. @default [] (none) */
  authTokens: StaticToken[];
  /** The OAuth 2.1 resource server's settings (MCP_OAUTH_ISSUER and the others), when MCP_OAUTH_ISSUER is set. @default undefined */
  oauth?: OAuthConfig;
  /** MCP_PUBLIC_URL, without a trailing slash. @default undefined */
  publicUrl?: string;
  /** MCP_MAX_CONTEXTS_PER_TENANT: live contexts one tenant may hold. */
  maxContextsPerTenant: number;
  /** MCP_MAX_TEXT_BYTES: the most bytes of run output per field of an answer. */
  maxTextBytes: number;
  /** MCP_MAX_REQUESTS_PER_TENANT: one tenant's requests in progress at once in this process; past it 429; 0 = no cap. */
  maxRequestsPerTenant: number;
  /** MCP_REFUSAL_DELAY_MS: how long a refusal past it waits before it is answered, so that a client retrying at once does not flood the process; 0 = none. */
  refusalDelayMs: number;
  /** MCP_BODY_TIMEOUT_SECONDS: the time a request's headers and body may take to arrive; past it 408 and the connection closes. */
  bodyTimeoutSeconds: number;
  /** MCP_MAX_CONNECTIONS: open connections kept at once; past it the oldest idle one is closed for the newcomer; 0 = no cap. */
  maxConnections: number;
  /** MCP_ALLOW_UNAUTHENTICATED: serve beyond loopback without auth. */
  allowUnauthenticated: boolean;
  /** MCP_MAX_BODY_BYTES: the largest request body. */
  maxBodyBytes: number;
  /** RUN_TIMEOUT_SECONDS: run_code's timeout when the caller gives none (at most MAX_RUN_TIMEOUT_SECONDS). */
  runTimeoutSeconds: number;
  /** MCP_MAX_FILE_BYTES: the most bytes write_file takes and read_file or resources/read return. */
  maxFileBytes: number;
  /** MCP_FETCH_ALLOW_HOSTS: hosts write_file's url may reach although private. */
  fetchAllowHosts: string[];
  /** MCP_FETCH_TIMEOUT_SECONDS: the whole of a write_file download. */
  fetchTimeoutSeconds: number;
  /** MCP_FETCH_MIN_BYTES_PER_SECOND: the slowest average a write_file download may keep; 0 = none. */
  fetchMinBytesPerSecond: number;
  /** MCP_FETCH_MAX_BYTES_IN_FLIGHT: the bytes of write_file downloads this process holds at once (at least MCP_MAX_FILE_BYTES), one tenant at most half; a download past it fails with fetch_failed. */
  fetchMaxBytesInFlight: number;
  /** MCP_FETCH_TENANT_BYTES_PER_SECOND: the bytes per second one tenant's write_file downloads take together in this process; 0 = no pace. */
  fetchTenantBytesPerSecond: number;
  /** FC session mode's settings (SANDBOX_FUNCTION_NAME, FC_REGION and the other FC_*, SESSION_API_*, ALIBABA_CLOUD_* variables), when sessionMode is fc. @default undefined */
  fc?: FcSessionsSettings;
}

export interface OAuthConfig {
  /** The authorization server (tokens' `iss`). */
  issuer: string;
  /** What tokens' `aud` must hold. */
  audience: string;
  /** This endpoint's resource identifier: MCP_PUBLIC_URL + MCP_PATH. */
  resource: string;
  /** Scopes every token must carry. */
  scopes: string[];
}

export interface LoadConfigOptions {
  /** Overrides applied after env and flags (handlers: e.g. FC's listen address). */
  overrides?: Partial<Record<McpVariable, string>>;
}

/** What one client may hold of the HTTP listener (listenHttp's bounds), from the settings. */
export function connectionBounds(config: Pick<Config, 'bodyTimeoutSeconds' | 'maxConnections'>): ConnectionBounds {
  return { requestTimeoutMs: config.bodyTimeoutSeconds * 1000, maxConnections: config.maxConnections };
}

/** Turns CLI flags into env entries; unknown flags are a ConfigError. */
function flagsToEnv(argv: readonly string[]): Record<string, string> {
  const options = Object.fromEntries(Object.keys(CLI_FLAGS).map((flag) => [flag, { type: 'string' as const }]));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const env: Record<string, string> = {};
  for (const [flag, value] of Object.entries(values)) {
    if (typeof value === 'string') env[CLI_FLAGS[flag]!] = value;
  }
  return env;
}

/** The OAuth resource server's settings, or undefined without MCP_OAUTH_ISSUER. */
function oauthConfig(e: z.output<typeof McpEnv>, publicUrl: string | undefined): OAuthConfig | undefined {
  const issuer = e.MCP_OAUTH_ISSUER;
  if (!issuer) {
    const stray = (['MCP_OAUTH_AUDIENCE', 'MCP_OAUTH_SCOPES'] as const).filter((k) => e[k]);
    if (stray.length > 0) throw new ConfigError(`${stray.join(', ')}: only used with MCP_OAUTH_ISSUER, which is not set`);
    return undefined;
  }
  const url = new URL(issuer);
  if (!isAcceptableUrl(issuer)) {
    throw new ConfigError(`MCP_OAUTH_ISSUER: must be https:// (http:// only on loopback, for tests and local use) (got "${issuer}")`);
  }
  if (url.search || url.hash) throw new ConfigError(`MCP_OAUTH_ISSUER: must have no query or fragment (got "${issuer}")`);
  if (!publicUrl) {
    throw new ConfigError(
      "MCP_PUBLIC_URL: required with MCP_OAUTH_ISSUER (the URL clients reach this server at, e.g. https://ci.example.com; the protected-resource metadata and the tokens' audience name it)",
    );
  }
  const resource = `${publicUrl}${e.MCP_PATH}`;
  const scopes = (e.MCP_OAUTH_SCOPES ?? '').split(/[\s,]+/).filter(Boolean);
  for (const scope of scopes) {
    // RFC 6749 §3.3's scope-token: printable ASCII but space, " and \.
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)) throw new ConfigError(`MCP_OAUTH_SCOPES: "${scope}" is not a valid scope`);
  }
  return { issuer, audience: e.MCP_OAUTH_AUDIENCE ?? resource, resource, scopes };
}

/**
 * Reads and validates the configuration. Flags win over env. Throws ConfigError
 * with one line naming the variable and what is wrong.
 */
export function loadConfig(env: Env, argv: readonly string[] = [], options: LoadConfigOptions = {}): Config {
  const merged = { ...env, ...flagsToEnv(argv), ...options.overrides };
  const e = parseEnv(McpEnv, merged, (message) => new ConfigError(message));
  let authTokens: StaticToken[];
  try {
    authTokens = parseStaticTokens(e.MCP_AUTH_TOKEN);
  } catch (error) {
    throw new ConfigError(`MCP_AUTH_TOKEN: ${(error as Error).message}`);
  }
  const publicUrl = e.MCP_PUBLIC_URL?.replace(/\/+$/, '');
  const oauth = oauthConfig(e, publicUrl);
  const loopback = isLoopbackHost(e.MCP_HOST);
  if (e.MCP_TRANSPORT !== 'stdio' && !loopback && authTokens.length === 0 && !oauth && !e.MCP_ALLOW_UNAUTHENTICATED) {
    throw new ConfigError(
      `MCP_AUTH_TOKEN: required when binding to ${e.MCP_HOST} (not loopback); set a token or MCP_OAUTH_ISSUER, or MCP_ALLOW_UNAUTHENTICATED=true to serve without one`,
    );
  }

  if (e.MCP_FETCH_MAX_BYTES_IN_FLIGHT < e.MCP_MAX_FILE_BYTES) {
    throw new ConfigError(
      `MCP_FETCH_MAX_BYTES_IN_FLIGHT: must be at least MCP_MAX_FILE_BYTES (${e.MCP_MAX_FILE_BYTES}), or a file of that size could never be downloaded (got ${e.MCP_FETCH_MAX_BYTES_IN_FLIGHT})`,
    );
  }

  let fc: FcSessionsSettings | undefined;
  if (e.SANDBOX_SESSION_MODE === 'fc') {
    const missing = (['SANDBOX_FUNCTION_NAME', 'FC_REGION', 'FC_ACCOUNT_ID'] as const).filter((k) => !e[k]);
    if (missing.length > 0) {
      throw new ConfigError(`${missing.join(', ')}: required when SANDBOX_SESSION_MODE=fc`);
    }
    if (!e.SANDBOX_URL)
      throw new ConfigError("SANDBOX_URL: required when SANDBOX_SESSION_MODE=fc (the sandbox function's HTTP trigger URL)");
    const keyId = e.ALIBABA_CLOUD_ACCESS_KEY_ID;
    const keySecret = e.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
    if (Boolean(keyId) !== Boolean(keySecret)) {
      throw new ConfigError('ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET: give both or neither');
    }
    fc = {
      functionName: e.SANDBOX_FUNCTION_NAME!,
      qualifier: e.SANDBOX_FUNCTION_QUALIFIER,
      region: e.FC_REGION!,
      accountId: e.FC_ACCOUNT_ID!,
      endpoint: e.SESSION_API_ENDPOINT,
      protocol: e.SESSION_API_PROTOCOL,
      sessionTTLInSeconds: e.SANDBOX_SESSION_TTL_SECONDS,
      sessionIdleTimeoutInSeconds: e.SANDBOX_SESSION_IDLE_SECONDS,
      credentials:
        keyId && keySecret ? { accessKeyId: keyId, accessKeySecret: keySecret, securityToken: e.ALIBABA_CLOUD_SECURITY_TOKEN } : undefined,
    };
  }

  // Context ids must verify on every instance, so they need a shared secret. A random
  // one is only acceptable where one process on this machine is the whole service.
  let contextSecret = e.CONTEXT_SECRET;
  let contextSecretEphemeral = false;
  if (!contextSecret) {
    const localOnly = e.MCP_TRANSPORT === 'stdio' || (loopback && e.SANDBOX_SESSION_MODE === 'direct');
    if (!localOnly) {
      throw new ConfigError(
        'CONTEXT_SECRET: required (at least 16 characters, the same on every instance) unless serving on loopback in direct mode',
      );
    }
    contextSecret = randomBytes(32).toString('base64url');
    contextSecretEphemeral = true;
  }

  return {
    transport: e.MCP_TRANSPORT,
    host: e.MCP_HOST,
    port: e.MCP_PORT,
    path: e.MCP_PATH,
    sandboxUrlSetting: e.SANDBOX_URL,
    sandboxUrl: e.SANDBOX_URL ?? DEFAULT_SANDBOX_URL,
    sandboxApiToken: e.SANDBOX_API_TOKEN,
    embeddedSandbox: Object.fromEntries(Object.keys(SandboxEnv.shape).map((name) => [name, e[name as keyof SandboxEnv]])) as SandboxEnv,
    logLevel: e.LOG_LEVEL ?? (e.MCP_TRANSPORT === 'stdio' ? 'warn' : 'info'),
    sessionHeader: e.SANDBOX_SESSION_HEADER ?? DEFAULT_SESSION_HEADER,
    sessionMode: e.SANDBOX_SESSION_MODE,
    sessionId: e.SANDBOX_SESSION_ID,
    contextSecret,
    contextSecretEphemeral,
    authTokens,
    oauth,
    publicUrl,
    maxContextsPerTenant: e.MCP_MAX_CONTEXTS_PER_TENANT,
    maxTextBytes: e.MCP_MAX_TEXT_BYTES,
    allowUnauthenticated: e.MCP_ALLOW_UNAUTHENTICATED,
    maxBodyBytes: e.MCP_MAX_BODY_BYTES,
    maxRequestsPerTenant: e.MCP_MAX_REQUESTS_PER_TENANT,
    refusalDelayMs: e.MCP_REFUSAL_DELAY_MS,
    bodyTimeoutSeconds: e.MCP_BODY_TIMEOUT_SECONDS,
    maxConnections: e.MCP_MAX_CONNECTIONS,
    runTimeoutSeconds: e.RUN_TIMEOUT_SECONDS,
    maxFileBytes: e.MCP_MAX_FILE_BYTES,
    fetchAllowHosts: e.MCP_FETCH_ALLOW_HOSTS,
    fetchTimeoutSeconds: e.MCP_FETCH_TIMEOUT_SECONDS,
    fetchMinBytesPerSecond: e.MCP_FETCH_MIN_BYTES_PER_SECOND,
    fetchMaxBytesInFlight: e.MCP_FETCH_MAX_BYTES_IN_FLIGHT,
    fetchTenantBytesPerSecond: e.MCP_FETCH_TENANT_BYTES_PER_SECOND,
    fc,
  };
}
