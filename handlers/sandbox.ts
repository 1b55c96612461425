/**
 * `npm run sandbox`: the embedded sandbox alone (E2B's code-interpreter API),
 * configured from SANDBOX_* environment variables. Also the entry of the sandbox's
 * container image (infra/Containerfile), where FC_CUSTOM_LISTEN_PORT sets the port and
 * SANDBOX_JAIL says whether kernels run in the bubblewrap jail (jail-mode.ts).
 */
import { runMain } from '../src/shared/cli.ts';
import { ConfigError } from '../src/shared/cli.ts';
import { describeShutdown, onShutdown } from '../src/shared/shutdown.ts';
import { parseSandboxEnv, type SandboxOptions, SandboxOptionsError, startSandbox } from '../src/sandbox-service/index.ts';
import {
  decideJail,
  JailSettingError,
  parseJailSetting,
  probeJailNetwork,
  probeNamespaces,
} from '../src/sandbox-service/jail/jail-mode.ts';
import { withPlatformPort } from '../src/sandbox-service/platform-env.ts';
import { loadSandboxTelemetry } from '../src/sandbox-service/telemetry/load-telemetry.ts';
import { TelemetrySettingError } from '../src/shared/telemetry/settings.ts';

runMain(async () => {
  let options: SandboxOptions;
  let jail: Awaited<ReturnType<typeof decideJail>>;
  let telemetry: Awaited<ReturnType<typeof loadSandboxTelemetry>>;
  try {
    telemetry = await loadSandboxTelemetry(process.env);
    options = parseSandboxEnv(withPlatformPort(process.env));
    jail = await decideJail(
      parseJailSetting(process.env.SANDBOX_JAIL),
      probeNamespaces,
      undefined,
      options.allowNetwork ? probeJailNetwork : undefined,
    );
  } catch (error) {
    throw error instanceof SandboxOptionsError || error instanceof JailSettingError || error instanceof TelemetrySettingError
      ? new ConfigError(error.message)
      : error;
  }
  console.log(jail.line);
  // Unjailed, the workspace's inside path is one symlink, to the session that started a kernel last
  // (unjailed-process.ts): kernels pre-started for sessions yet to come would point it elsewhere.
  if (!jail.jailed && options.poolSize > 0) {
    console.log('sandbox: no pre-started kernels without the jail (SANDBOX_POOL_SIZE ignored)');
    options = { ...options, poolSize: 0 };
  }
  const sandbox = await startSandbox(options, { telemetry });
  console.log(
    `sandbox: listening on ${sandbox.url} (session header ${options.sessionHeader}, network ${options.allowNetwork ? 'allowed' : jail.jailed ? 'cut off' : "the platform's to cut off (no namespace of its own)"})`,
  );
  // Kernels stopped, workspaces unmounted and removed, the root and cgroups gone; then one line.
  onShutdown(() => sandbox.close(), { report: (outcome) => console.log(`sandbox: ${describeShutdown(outcome)}`) });
});
