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

export interface AppDepsOverrides {
  /** FC session mode's factory (handlers/fc.ts passes fcSessionsFactory here). */
  sessions?: SandboxSessionsFactory;
  /** Adds a credential to each sandbox request, from the incoming request (FC). */
  authorize?: (incoming: Request) => SandboxClientOptions['authorize'];
  /** Overrides config.sandboxUrl (npm start: the embedded sandbox's actual URL). */
  sandboxUrl?: string;
  /** Overrides config.sandboxApiToken (npm start: the token it gave its embedded sandbox). */
  sandboxApiToken?: string;
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
  // Without per-request credentials one client serves every request (it holds no state).
  const shared = overrides.authorize ? undefined : createSandboxClient(clientOptions);
  const authorize = overrides.authorize;
  const sandboxClientFor = shared
    ? () => shared
    : (request: Request) => createSandboxClient({ ...clientOptions, authorize: authorize!(request) });
  return {
    config,
    sessions: overrides.sessions ?? ((request) => createDirectSessions(config.sessionId, sandboxClientFor(request))),
    sandboxClientFor,
    contexts: createContextIdCodec(config.contextSecret, { sessionId: config.sessionId }),
    catalog: createCodeInterpreterCatalog(),
    downloads: createDownloadBudget(config.fetchMaxBytesInFlight, config.maxFileBytes),
    logger,
  };
}
