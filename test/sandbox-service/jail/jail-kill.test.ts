/**
 * A jail killed at any moment of its start leaves nothing running: bwrap reports its init's
 * pid a few milliseconds after it starts, and a kill that came before that report used to kill
 * the outer bwrap alone; the init lived on with the command under the host's pid 1 (found when
 * DELETE /processes/:pid, under load, left a `sleep 30` running and its request waiting).
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnJailed } from '../../../src/sandbox-service/jail/bubblewrap.ts';
import { SessionUids } from '../../../src/sandbox-service/jail/session-uids.ts';
import { eventually } from '../../support/eventually.ts';
import { commandLine, pidsWithArgument } from '../../support/processes.ts';

const isRoot = process.getuid?.() === 0;

test('a jail killed at any moment of its start leaves no process behind', async () => {
  const root = await mkdtemp(join(tmpdir(), 'fc-jail-kill-'));
  await chmod(root, 0o711); // the jail's uid reaches its workspace and run directory through it
  const workspace = join(root, 'workspace');
  await mkdir(workspace);
  // As a root server runs it: the jail under an unprivileged uid of its own, claimed in the host's
  // registry like every sandbox's (a private one handed out a uid a sandbox of another test file
  // held, and the release here ended that sandbox's starting kernel).
  const uids = isRoot ? new SessionUids() : undefined;
  const lease = await uids?.acquire('jail-kill', workspace);
  const left: string[] = [];
  const leftPids: number[] = [];
  const start = async (marker: string) => {
    const runDir = join(root, `run-${marker}`);
    await mkdir(runDir, { mode: 0o777 });
    return spawnJailed({
      workspace,
      workspaceMount: '/home/user',
      runDir,
      allowNetwork: false,
      hostUid: lease?.uid,
      memoryMb: 0,
      env: {},
      command: ['/bin/sleep', marker],
    });
  };
  try {
    // The jail starts here at all: a sleep left alone is seen running.
    const control = await start('3600.6999');
    assert.ok(await eventually(() => pidsWithArgument('3600.6999').length > 0), control.outputTail());
    await control.kill();
    assert.deepEqual(pidsWithArgument('3600.6999'), []);
    // Every millisecond of the first 20, twice: the report comes within them on this machine.
    for (let attempt = 0; attempt < 40; attempt++) {
      // A sleep no other test runs: the marker finds what this attempt left, and nothing else.
      const marker = `3600.${7000 + attempt}`;
      const jail = await start(marker);
      const delayMs = attempt % 20;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      await jail.kill();
      for (const pid of pidsWithArgument(marker)) {
        leftPids.push(pid);
        left.push(`after ${delayMs} ms: ${pid} ${commandLine(pid)}`);
      }
    }
    assert.deepEqual(left, []);
  } finally {
    for (const pid of leftPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await lease?.release();
    await rm(root, { recursive: true, force: true });
  }
});
