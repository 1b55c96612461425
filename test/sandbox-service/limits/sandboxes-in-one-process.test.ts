/**
 * Two sandboxes in one process (bench/sandbox.ts starts a second one without a pool) each keep
 * their own cgroup: closing one removed `fc-sandbox-<pid>`, the group of both, killing the other's
 * kernels and failing its next context with ENOENT.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type RunningSandbox, startSandbox } from '../../../src/sandbox-service/index.ts';
import { createContext, execute } from '../../support/sandbox-support.ts';

const started: RunningSandbox[] = [];
after(async () => {
  await Promise.all(started.map((sandbox) => sandbox.close()));
});

test('closing a second sandbox in the process leaves the first one’s contexts and limits alone', async () => {
  const first = await startSandbox({ port: 0, poolSize: 0 });
  started.push(first);
  const second = await startSandbox({ port: 0, poolSize: 0 });
  const id = await createContext(first.url, { language: 'python' }, {});
  await createContext(second.url, { language: 'python' }, {});
  await second.close();
  const run = await execute(first.url, { code: '1+1', context_id: id });
  assert.equal(run.error, undefined, run.error?.traceback);
  assert.equal(run.results[0]?.text, '2');
  const another = await createContext(first.url, { language: 'python' }, {});
  assert.equal((await execute(first.url, { code: '2+2', context_id: another })).results[0]?.text, '4');
});
