// Function Compute custom runtime: listen on 0.0.0.0 and FC's port (FC_CUSTOM_LISTEN_PORT in the cloud, FC_SERVER_PORT in local emulation,
// else MCP_PORT, else 9000). The server image (infra/server.Containerfile) runs this handler too, on MCP_PORT=3000.
// In FC session mode (SANDBOX_SESSION_MODE=fc, as s.yaml deploys it) every context is a session of the sandbox
// function, and every sandbox call is signed for its trigger's function-level auth, with the credentials FC hands
// this function's role: the request's x-fc-access-key-* headers when present, else ALIBABA_CLOUD_*.
import { createApp } from '../src/mcp-server/app.ts';
import { createAppDeps, type AppDepsOverrides } from '../src/mcp-server/app-deps.ts';
import { runMain } from '../src/shared/cli.ts';
import { connectionBounds, loadConfig, type Config } from '../src/mcp-server/config.ts';
import { createLogger } from '../src/shared/logger.ts';
import { listenHttp } from '../src/shared/listen-http.ts';
import { logShutdown, onShutdown } from '../src/shared/shutdown.ts';
import { credentialsFor, fcSessionsFactory } from '../src/mcp-server/sessions/fc.ts';
import { signForFcTrigger } from '../src/mcp-server/sessions/fc-trigger-signature.ts';

/** How long calls in flight may still finish after SIGTERM, inside the shutdown's bound. */
const FC_DRAIN_MS = 5_000;

function fcSessionMode(config: Config): AppDepsOverrides {
  const fc = config.fc;
  if (!fc) return {};
  return {
    sessions: fcSessionsFactory(fc),
    authorize: (incoming) => {
      const credentials = credentialsFor(incoming, fc.credentials);
      // Without credentials the trigger refuses the call (401), and the Session API call before it fails with the reason.
      return credentials ? signForFcTrigger(credentials) : undefined;
    },
  };
}

runMain(async () => {
  const env = process.env;
  // Outside FC (the server image, infra/server.Containerfile) no FC variable is set: MCP_PORT then.
  const port = env.FC_CUSTOM_LISTEN_PORT ?? env.FC_SERVER_PORT ?? env.MCP_PORT ?? '9000';
  const config = loadConfig(env, process.argv.slice(2), {
    overrides: { MCP_HOST: '0.0.0.0', MCP_PORT: port, ...(env.MCP_TRANSPORT ? {} : { MCP_TRANSPORT: 'http' }) },
  });
  const logger = createLogger({ level: config.logLevel });
  const app = createApp(createAppDeps(config, logger, fcSessionMode(config)));
  const listener = await listenHttp(app, config.host, config.port, connectionBounds(config));
  logger.info('listening', { url: `${listener.origin}${config.path}`, sandbox_url: config.sandboxUrl, session_mode: config.sessionMode });
  // FC stops an instance with SIGTERM: calls in flight (each waits on a sandbox elsewhere) get a few seconds to answer.
  onShutdown(() => listener.close(undefined, { graceMs: FC_DRAIN_MS }), { report: logShutdown(logger) });
});
