/**
 * E2B's official client in debug mode (it makes no cloud call) against a sandbox service of the
 * file's own. In debug mode the client sends code-interpreter requests to http://localhost:49999
 * unless given a sandbox URL (its `sandboxUrl` option, E2B_SANDBOX_URL), so the sandbox listens
 * on a free port and the client is told it: test files run side by side. Registers the file's
 * before/after; the client is ready in the tests.
 */
import { after, before } from 'node:test';
import { Sandbox } from '@e2b/code-interpreter';
import { startSandbox, type RunningSandbox } from '../../src/sandbox-service/index.ts';

export function useE2bDebugSandbox(): { readonly client: Sandbox } {
  let sandbox: RunningSandbox | undefined;
  let client: Sandbox | undefined;
  before(async () => {
    sandbox = await startSandbox({ host: '127.0.0.1', port: 0, poolSize: 1 });
    client = await Sandbox.create({ debug: true, sandboxUrl: sandbox.url });
  });
  after(async () => {
    await sandbox?.close();
  });
  return {
    get client() {
      if (!client) throw new Error('the E2B client is ready only inside the tests');
      return client;
    },
  };
}
