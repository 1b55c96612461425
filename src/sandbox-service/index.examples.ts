/**
 * The `@example` of index.ts's startSandbox, where the type checker sees it: the region is
 * the example's text, and test/repo/examples.fast.test.ts holds the doc comment to it word
 * for word. Nothing imports this file; it is never run.
 */
import { startSandbox } from './index.ts';

export async function startSandboxExample() {
  // #region startSandbox
  const sandbox = await startSandbox({ port: 0, poolSize: 0 });
  const response = await fetch(`${sandbox.url}/contexts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-ci-session-id': 'my-session' },
    body: JSON.stringify({ language: 'python' }),
  });
  console.log(await response.json());
  await sandbox.close();
  // #endregion
}
