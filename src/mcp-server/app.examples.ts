/**
 * The `@example` of app.ts's createApp, where the type checker sees it: the region is the
 * example's text, and test/repo/examples.fast.test.ts holds the doc comment to it word for
 * word. Nothing imports this file; it is never run.
 */
import { listenHttp } from '../shared/listen-http.ts';
import { createLogger } from '../shared/logger.ts';
import { createApp } from './app.ts';
import { createAppDeps } from './app-deps.ts';
import { loadConfig } from './config.ts';

export async function createAppExample() {
  // #region createApp
  const config = loadConfig(process.env, process.argv.slice(2));
  const logger = createLogger({ level: config.logLevel });
  const app = createApp(createAppDeps(config, logger));
  const listener = await listenHttp(app, config.host, config.port);
  // #endregion
  return listener;
}
