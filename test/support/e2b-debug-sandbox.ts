/**
 * The sandbox service where E2B's official client looks in debug mode: it makes no cloud call
 * and sends code-interpreter requests to http://localhost:49999, so the sandbox listens there
 * for the file's tests. Registers the file's before/after; the client is ready in the tests.
 */
import { after, before } from 'node:test';
import { Sandbox } from '@e2b/code-interpreter';
import { startSandbox, type RunningSandbox } from '../../src/sandbox-service/index.ts';

const E2B_DEBUG_PORT = 49999;

export function useE2bDebugSandbox(): { readonly client: Sandbox } {
  let sandbox: RunningSandbox | undefined;
  let client: Sandbox | undefined;
  before(async () => {
    sandbox = await startSandbox({ host: '127.0.0.1', port: E2B_DEBUG_PORT, poolSize: 1 });
    client = await Sandbox.create({ debug: true });
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
