/**
 * A sandbox killed outright (SIGKILL) leaves its mounts, loop devices,
 * workspace root and cgroups; the next sandbox to start reclaims them, and leaves a live
 * sandbox's alone (two sandboxes on one host). As root.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { sweepRoot } from '../../../src/sandbox-service/roots/leftovers.ts';
import { eventually } from '../../support/eventually.ts';
import {
  cgroupsOf,
  freshTmp,
  groupAlive,
  HEADERS,
  leftovers,
  rootsIn,
  type ServerProcess,
  startServer,
} from '../../support/shutdown-support.ts';

const tmp = freshTmp();
const started: ServerProcess[] = [];
after(async () => {
  for (const server of started) if (groupAlive(server.child.pid!)) process.kill(-server.child.pid!, 'SIGKILL');
  await sweepRoot(tmp, { removeRoot: true }); // whatever a failed test left
});

async function createContext(url: string): Promise<string> {
  const response = await fetch(`${url}/contexts`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ language: 'python' }) });
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { id: string }).id;
}

async function run(url: string, contextId: string, code: string): Promise<string> {
  const response = await fetch(`${url}/execute`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ context_id: contextId, code }),
  });
  return response.text();
}

function mountsOf(root: string): string[] {
  return leftovers(root).filter((entry) => entry.startsWith('mount '));
}

test('a SIGKILLed sandbox leaves mounts behind; the next start reclaims them and leaves a live sandbox alone', async () => {
  const killed = await startServer({ direct: true }, tmp);
  started.push(killed);
  const [killedRoot] = rootsIn(tmp);
  assert.ok(killedRoot);
  await createContext(killed.url);
  await createContext(killed.url);

  const live = await startServer({ direct: true }, tmp);
  started.push(live);
  const liveRoot = rootsIn(tmp).find((root) => root !== killedRoot)!;
  const liveContext = await createContext(live.url);
  assert.match(await run(live.url, liveContext, 'open("kept.txt", "w").write("still here")'), /end_of_execution/);
  const liveMounts = mountsOf(liveRoot);
  assert.ok(liveMounts.length > 0);

  const killedPid = killed.child.pid!;
  process.kill(killedPid, 'SIGKILL');
  await killed.exited;
  assert.ok(await eventually(() => !groupAlive(killedPid)), 'the killed server took its jails with it');
  assert.ok(mountsOf(killedRoot).length >= 2, 'a killed server leaves its workspace and run root mounted');

  const next = await startServer({ direct: true }, tmp);
  started.push(next);
  assert.match(next.output(), new RegExp(`reclaimed what stopped sandboxes left in .*${killedRoot}`));
  assert.deepEqual(mountsOf(killedRoot), []);
  assert.deepEqual(
    leftovers(tmp).filter((entry) => entry.includes(killedRoot)),
    [],
  );
  assert.equal(rootsIn(tmp).includes(killedRoot), false);
  assert.deepEqual(cgroupsOf(killedPid), []);

  // The live sandbox is untouched: its root, mounts and context are all there.
  assert.ok(rootsIn(tmp).includes(liveRoot));
  assert.deepEqual(mountsOf(liveRoot), liveMounts);
  const read = await run(live.url, liveContext, 'print(open("kept.txt").read())');
  assert.match(read, /still here/);

  for (const server of [live, next]) {
    const pid = server.child.pid!;
    process.kill(-pid, 'SIGTERM');
    await server.exited;
    assert.ok(await eventually(() => !groupAlive(pid)));
    assert.deepEqual(cgroupsOf(pid), []);
  }
  assert.deepEqual(leftovers(tmp), []);
});
