/**
 * `npm run sandbox`: the sandbox service alone (E2B's code-interpreter API),
 * configured from SANDBOX_* environment variables. Also the entry of the sandbox's
 * container image (infra/Containerfile), where FC_CUSTOM_LISTEN_PORT sets the port.
 * startSandbox decides the jail (SANDBOX_JAIL) and says so, as it does for `npm start`.
 */
import { ConfigError, runMain } from '../src/shared/cli.ts';
import { createLogger } from '../src/shared/logger.ts';
import { logShutdown, onShutdown } from '../src/shared/shutdown.ts';
import { parseSandboxEnv, type SandboxOptions, SandboxOptionsError, startSandbox } from '../src/sandbox-service/index.ts';
import { withPlatformPort } from '../src/sandbox-service/platform-env.ts';
import { loadSandboxTelemetry } from '../src/sandbox-service/telemetry/load-telemetry.ts';
import { TelemetrySettingError } from '../src/shared/telemetry/settings.ts';

runMain(async () => {
  const logger = createLogger({ level: 'info' });
  let options: SandboxOptions;
  let telemetry: Awaited<ReturnType<typeof loadSandboxTelemetry>>;
  try {
    telemetry = await loadSandboxTelemetry(process.env);
    options = parseSandboxEnv(withPlatformPort(process.env));
  } catch (error) {
    throw error instanceof SandboxOptionsError || error instanceof TelemetrySettingError ? new ConfigError(error.message) : error;
  }
  const sandbox = await startSandbox(options, { log: (line) => logger.info(line), telemetry }).catch((error: Error) => {
    throw error instanceof SandboxOptionsError ? new ConfigError(error.message) : error;
  });
  // Kernels stopped, workspaces unmounted and removed, the root and cgroups gone; then one line.
  onShutdown(() => sandbox.close(), { report: logShutdown(logger) });
});
