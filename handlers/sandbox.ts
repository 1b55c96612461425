/**
 * `npm run sandbox`: the embedded sandbox alone (E2B's code-interpreter API),
 * configured from SANDBOX_* environment variables.
 */
import { runMain } from '../src/cli.ts';
import { ConfigError } from '../src/config.ts';
import { describeShutdown, onShutdown } from '../src/shutdown.ts';
import { parseSandboxEnv, type SandboxOptions, SandboxOptionsError, startSandbox } from '../src/local-sandbox/index.ts';

runMain(async () => {
  let options: SandboxOptions;
  try {
    options = parseSandboxEnv(process.env);
  } catch (error) {
    throw error instanceof SandboxOptionsError ? new ConfigError(error.message) : error;
  }
  const sandbox = await startSandbox(options);
  console.log(
    `sandbox: listening on ${sandbox.url} (session header ${options.sessionHeader}, network ${options.allowNetwork ? 'allowed' : 'cut off'})`,
  );
  // Kernels stopped, workspaces unmounted and removed, the root and cgroups gone; then one line.
  onShutdown(() => sandbox.close(), { report: (outcome) => console.log(`sandbox: ${describeShutdown(outcome)}`) });
});
