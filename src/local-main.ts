/**
 * `npm start` and the stdio entry point: the MCP server with its own sandbox service
 * (unless SANDBOX_URL points at one), on the configured transport.
 */
import { randomBytes } from 'node:crypto';
import { createApp, mcpServerDepsFor } from './mcp-server/app.ts';
import { createAppDeps } from './mcp-server/app-deps.ts';
import { connectionBounds, loadConfig, type Config } from './mcp-server/config.ts';
import { ConfigError } from './shared/cli.ts';
import type { Env } from './shared/env.ts';
import { createLogger, type Logger } from './shared/logger.ts';
import { serveStdio } from './mcp-server/stdio/serve-stdio.ts';
import { missingSandboxPackages } from './system-check.ts';
import { loadMcpTelemetry } from './mcp-server/telemetry/load-telemetry.ts';
import { TelemetrySettingError } from './shared/telemetry/settings.ts';
import { listenHttp } from './shared/listen-http.ts';
import { logShutdown, onShutdown } from './shared/shutdown.ts';

/**
 * The sandbox service, loaded only when this process needs one (so the FC bundle and a
 * process given SANDBOX_URL never load the kernels' modules), with the
 * options the configuration read from SANDBOX_* (and the session header the MCP side uses).
 */
async function startEmbeddedSandbox(config: Config, overrides: { port?: number; apiToken: string }, env: Env) {
  const [{ startSandbox, parseSandboxOptions, SandboxOptionsError, sandboxEnvName, sandboxOptionsFromEnv }, { loadSandboxTelemetry }] =
    await Promise.all([import('./sandbox-service/index.ts'), import('./sandbox-service/telemetry/load-telemetry.ts')]);
  const input = { ...sandboxOptionsFromEnv(config.embeddedSandbox), sessionHeader: config.sessionHeader, apiToken: overrides.apiToken };
  if (overrides.port !== undefined && input.port === undefined) input.port = overrides.port;
  try {
    // The same OTEL_* variables as the MCP side (runLocal's loadMcpTelemetry checked them), its own service name.
    return await startSandbox(parseSandboxOptions(input, sandboxEnvName), { telemetry: await loadSandboxTelemetry(env) });
  } catch (error) {
    if (error instanceof SandboxOptionsError || error instanceof TelemetrySettingError) throw new ConfigError(error.message);
    throw error;
  }
}

/** After the sandbox has stopped, how long answers in flight (run_code's shutdown error) may take to go out. */
const MCP_ANSWER_GRACE_MS = 1_000;

function warnAboutSecret(config: Config, logger: Logger) {
  if (config.contextSecretEphemeral) {
    logger.warn(
      'CONTEXT_SECRET is not set: using a random secret for this process; context ids will not survive a restart. Set CONTEXT_SECRET to keep them.',
    );
  }
}

export async function runLocal(env: Env, argv: readonly string[], forced: { transport?: 'stdio' } = {}): Promise<void> {
  const config = loadConfig(env, argv, forced.transport ? { overrides: { MCP_TRANSPORT: forced.transport } } : {});
  const logger = createLogger({ level: config.logLevel });
  warnAboutSecret(config, logger);
  if (!config.sandboxUrlSetting) {
    const missing = missingSandboxPackages();
    if (missing) throw new ConfigError(missing);
  }

  // Loaded first: it checks the OTEL_* variables the sandbox service reads too.
  const telemetry = await loadMcpTelemetry(env);

  // stdio: a desktop client owns this process; an ephemeral port avoids clashing with `npm start`.
  // The sandbox service answers only whoever holds this token: this process's MCP side.
  const sandboxApiToken = config.sandboxUrlSetting
    ? config.sandboxApiToken
    : (config.sandboxApiToken ?? randomBytes(32).toString('base64url'));
  const sandbox = config.sandboxUrlSetting
    ? undefined
    : await startEmbeddedSandbox(config, { apiToken: sandboxApiToken!, ...(config.transport === 'stdio' ? { port: 0 } : {}) }, env);
  const sandboxUrl = sandbox?.url ?? config.sandboxUrl;
  if (sandbox) logger.info('embedded sandbox started', { sandbox_url: sandboxUrl });

  const deps = createAppDeps(config, logger, { sandboxUrl, sandboxApiToken, telemetry });

  if (config.transport === 'stdio') {
    // stdio has no HTTP request; the factories get a stand-in one (direct mode ignores it).
    const { closed, answered } = await serveStdio(() => mcpServerDepsFor(deps, new Request('http://stdio.invalid/')), telemetry);
    logger.info('serving MCP on stdio', { sandbox_url: sandboxUrl });
    // A call in flight ends with the sandbox's shutdown error, which is answered before the exit
    // (once stdin has closed the SDK answers nothing more, as the stdio binding allows).
    const shutdown = onShutdown(
      async () => {
        await sandbox?.close();
        await answered(MCP_ANSWER_GRACE_MS);
        await telemetry?.shutdown();
      },
      { report: logShutdown(logger) },
    );
    await closed;
    shutdown('stdin closed');
    return;
  }

  const listener = await listenHttp(createApp(deps), config.host, config.port, connectionBounds(config));
  const url = `${listener.origin}${config.path}`;
  process.stdout.write(
    [
      `MCP server listening on ${url}`,
      `sandbox: ${sandboxUrl}`,
      config.transport === 'sse' ? `legacy SSE: ${listener.origin}/sse` : '',
      'try:',
      `  curl -s ${url} -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'` +
        (config.authTokens.length > 0 || config.oauth ? ` -H 'Authorization: Bearer <token>'` : '') +
        ` -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'`,
      '',
    ]
      .filter((line, i, all) => line !== '' || i === all.length - 1)
      .join('\n'),
  );
  // The sandbox stops while the MCP listener drains: a run_code in flight ends with the
  // sandbox's shutdown error, and its answer gets a moment to reach the client before the cut.
  // Telemetry last, with the spans of the answers the drain let out.
  onShutdown(
    async () => {
      await listener.close(async () => await sandbox?.close(), { graceMs: MCP_ANSWER_GRACE_MS });
      await telemetry?.shutdown();
    },
    {
      report: logShutdown(logger),
    },
  );
}
