/**
 * `npm run sandbox`: the embedded sandbox alone (E2B's code-interpreter API),
 * configured from SANDBOX_* environment variables.
 */
import { type SandboxOptions, SandboxOptionsError, parseSandboxEnv, startSandbox } from '../src/local-sandbox/index.ts';

let options: SandboxOptions;
try {
  options = parseSandboxEnv(process.env);
} catch (error) {
  if (!(error instanceof SandboxOptionsError)) throw error;
  console.error(`sandbox: ${error.message}`);
  process.exit(2);
}

const sandbox = await startSandbox(options);
console.log(
  `sandbox: listening on ${sandbox.url} (session header ${options.sessionHeader}, network ${options.allowNetwork ? 'allowed' : 'cut off'})`,
);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`sandbox: ${signal}, stopping kernels`);
  await sandbox.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop('SIGINT'));
process.once('SIGTERM', () => void stop('SIGTERM'));
