/**
 * Builds createApp's dependencies from a validated Config: the one place where the
 * parts are chosen and wired. Handlers call it; tests and benchmarks may build
 * their own deps instead.
 */
import type { AppDeps } from './app.ts';
import type { Config } from './config.ts';
import { ConfigError } from '../shared/cli.ts';
import { createContextIdCodec } from './context-ids/context-id.ts';
import type { Logger } from '../shared/logger.ts';
import { createCodeInterpreterCatalog } from './server/code-interpreter-tools.ts';
import { createSandboxClient, type SandboxClientOptions } from './sandbox-client/client.ts';
import { createDownloadBudget } from './net/download-budget.ts';
import { createDirectSessions } from './sessions/direct.ts';
import type { SandboxSessionsFactory } from './sessions/types.ts';
import type { McpTelemetry } from './telemetry/types.ts';

export interface AppDepsOverrides {
  /** FC session mode's factory (handlers/fc.ts passes fcSessionsFactory here). */
  sessions?: SandboxSessionsFactory;
  /** Adds a credential to each sandbox request, from the incoming request (FC). */
  authorize?: (incoming: Request) => SandboxClientOptions['authorize'];
  /** Overrides config.sandboxUrl (npm start: the sandbox service's actual URL). */
  sandboxUrl?: string;
  /** Overrides config.sandboxApiToken (npm start: the token it gave its own sandbox service). */
  sandboxApiToken?: string;
  /** Traces and metrics (loadMcpTelemetry), when an OTLP endpoint is set. */
  telemetry?: McpTelemetry;
}

export function createAppDeps(config: Config, logger: Logger, overrides: AppDepsOverrides = {}): AppDeps {
  if (!overrides.sessions && config.sessionMode !== 'direct') {
    throw new ConfigError('SANDBOX_SESSION_MODE=fc: this entry point has no FC session support; deploy with handlers/fc.ts');
  }
  const clientOptions: SandboxClientOptions = {
    baseUrl: overrides.sandboxUrl ?? config.sandboxUrl,
    sessionHeader: config.sessionHeader,
    accessToken: overrides.sandboxApiToken ?? config.sandboxApiToken,
    // One for every client of this sandbox: what one request learns, the next uses.
    features: {},
  };
  // Without per-request credentials or traces one client serves every request (it holds no state).
  const { authorize, telemetry } = overrides;
  const shared = authorize || telemetry ? undefined : createSandboxClient(clientOptions);
  const sandboxClientFor = shared
    ? () => shared
    : (request: Request) =>
        createSandboxClient({
          ...clientOptions,
          authorize: authorize?.(request),
          fetch: telemetry?.sandboxFetch(request, clientOptions.fetch),
        });
  return {
    config,
    sessions: overrides.sessions ?? ((request) => createDirectSessions(config.sessionId, sandboxClientFor(request))),
    sandboxClientFor,
    contexts: createContextIdCodec(config.contextSecret, { sessionId: config.sessionId }),
    catalog: createCodeInterpreterCatalog(),
    downloads: createDownloadBudget(config.fetchMaxBytesInFlight, config.maxFileBytes, config.fetchTenantBytesPerSecond),
    logger,
    telemetry,
  };
}
