// Function Compute custom runtime: listen on 0.0.0.0 and FC's port (FC_CUSTOM_LISTEN_PORT in the cloud, FC_SERVER_PORT in local emulation, else 9000).
import { createApp } from '../src/app.ts';
import { createAppDeps } from '../src/app-deps.ts';
import { onShutdown, runMain } from '../src/cli.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { listenHttp } from '../src/serve.ts';

runMain(async () => {
  const env = process.env;
  const port = env.FC_CUSTOM_LISTEN_PORT ?? env.FC_SERVER_PORT ?? '9000';
  const config = loadConfig(env, process.argv.slice(2), {
    overrides: { MCP_HOST: '0.0.0.0', MCP_PORT: port, ...(env.MCP_TRANSPORT ? {} : { MCP_TRANSPORT: 'http' }) },
  });
  const logger = createLogger({ level: config.logLevel });
  const app = createApp(createAppDeps(config, logger));
  const listener = await listenHttp(app, config.host, config.port);
  logger.info('listening', { url: `${listener.origin}${config.path}`, sandbox_url: config.sandboxUrl, session_mode: config.sessionMode });
  onShutdown(() => listener.close());
});
