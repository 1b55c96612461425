/**
 * `npm run sandbox`: the embedded sandbox alone (E2B's code-interpreter API),
 * configured from SANDBOX_* environment variables.
 */
import { onShutdown, runMain } from '../src/cli.ts';
import { ConfigError } from '../src/config.ts';
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
  onShutdown(async () => {
    console.log('sandbox: stopping kernels');
    await sandbox.close();
  });
});
