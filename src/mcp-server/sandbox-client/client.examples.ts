/**
 * The `@example` of client.ts's createSandboxClient, where the type checker sees it: the
 * region is the example's text, and test/repo/examples.fast.test.ts holds the doc comment to
 * it word for word. Nothing imports this file; it is never run.
 */
import { createSandboxClient } from './client.ts';

export async function createSandboxClientExample() {
  // #region createSandboxClient
  const sandbox = createSandboxClient({ baseUrl: 'http://localhost:5001', sessionHeader: 'x-ci-session-id' });
  const context = await sandbox.createContext('my-session', { language: 'python' });
  const execution = await sandbox.execute('my-session', { code: '1 + 1', context_id: context.id });
  // #endregion
  return execution;
}
