/**
 * A session's file worker ends once idle (7 MB per session otherwise: bench/density.bench.ts) and
 * its space starts another on the next request; a read whose bytes are still being taken is not
 * idle; an execution that reports its files asks for the worker again after the run, so one that
 * ended during a long run is replaced, not used.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileWorker } from '../../../src/sandbox-service/files/file-worker.ts';
import { watchWorkspace } from '../../../src/sandbox-service/files/workspace-changes.ts';
import { eventually } from '../../support/eventually.ts';

let root: string;
const IDLE_MS = 400;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'file-worker-idle-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const start = () =>
  FileWorker.start({ workspace: join(root, 'ws'), workspaceMount: '/home/user', runRoot: join(root, 'run'), memoryMb: 0, idleMs: IDLE_MS });

test('an idle worker ends; one in use does not, until its read is taken', async () => {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(root, 'ws'), { recursive: true });
  const worker = await start();
  try {
    await worker.write(['a.bin'], {}, [Buffer.alloc(3 * 1024 * 1024, 7)], 1 << 30);
    assert.equal(worker.alive, true);
    const { body } = await worker.read(['a.bin'], 0);
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 3));
    assert.equal(worker.alive, true, 'a read not yet taken holds the worker');
    assert.equal((await new Response(body).arrayBuffer()).byteLength, 3 * 1024 * 1024);
    assert.equal((await worker.list([], 1)).entries.length, 1);
    assert.equal(await eventually(() => !worker.alive, 5000), true, 'idle, it ends');
  } finally {
    await worker.close();
  }
});

test('the files an execution changed are found with a worker that ended during the run', async () => {
  let current: FileWorker | undefined;
  let started = 0;
  const files = async () => {
    if (!current?.alive) {
      current = await start();
      started++;
    }
    return current;
  };
  try {
    const changes = await watchWorkspace(files);
    const first = current!;
    await (await files()).write(['made.txt'], {}, [Buffer.from('x')], 100);
    assert.equal(await eventually(() => !first.alive, 5000), true);
    const event = await changes();
    assert.deepEqual(event, { type: 'files_changed', files: [{ path: '/home/user/made.txt', size: 1 }] });
    assert.equal(started, 2);
  } finally {
    await current?.close();
  }
});
