/**
 * AgentRun's code and process routes against a real sandbox, with requests shaped exactly as
 * its Node SDK sends them (Serverless-Devs/agentrun-sdk-nodejs, code-interpreter-data.ts; not
 * on npm, so raw fetch with its headers and bodies): POST /contexts/execute {code, contextId,
 * language, timeout} answered as one JSON object, and POST /processes/cmd {command, cwd,
 * timeout}, GET /processes, GET /processes/:pid, DELETE /processes/:pid. Commands run as the
 * session's code does: in its workspace, in its jail, with its limits; nothing outlives them.
 */
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { AgentRunExecution, CommandResult, ProcessInfo, ProcessList } from '../../../src/protocol/agentrun-api.ts';
import { EXISTING_SESSION_HEADER, WORKSPACE_DIR } from '../../../src/protocol/sandbox-api.ts';
import { decideJail } from '../../../src/sandbox-service/jail/jail-mode.ts';
import { MAX_COMMANDS_PER_SESSION } from '../../../src/sandbox-service/contexts/session-commands.ts';
import { eventually } from '../../support/eventually.ts';
import { holdings, isEmpty } from '../../support/host-leftovers.ts';

let sandbox: RunningSandbox;
let url: string;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 1, diskMb: 64 });
  url = sandbox.url;
});
after(async () => {
  await sandbox?.close();
});

/** The headers AgentRun's SandboxDataAPI.prepareHeaders sends with every request, and our session header. */
function sdkHeaders(session: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    'User-Agent': 'AgentRunDataClient-Node/1.0',
    'Agentrun-Access-Token': '',
    'x-ci-session-id': session,
    ...extra,
  };
}

async function sdk(session: string, method: string, path: string, data?: unknown, extra?: Record<string, string>) {
  const response = await fetch(new URL(path, url), {
    method,
    headers: sdkHeaders(session, extra),
    body: data === undefined ? undefined : JSON.stringify(data),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined; // refusals are plain text
  }
  return { status: response.status, text, json };
}

/** executeCode as the SDK builds its body: code, then timeout (default 30), language and contextId when given. */
function executeCode(session: string, params: { code: string; contextId?: string; language?: string; timeout?: number }) {
  const data: Record<string, unknown> = { code: params.code, timeout: params.timeout ?? 30 };
  if (params.language !== undefined) data.language = params.language;
  if (params.contextId !== undefined) data.contextId = params.contextId;
  return sdk(session, 'POST', '/contexts/execute', data);
}

/** cmd as the SDK builds its body. */
function cmd(session: string, command: string, cwd: string, timeout?: number) {
  const data: Record<string, unknown> = { command, cwd };
  if (timeout !== undefined) data.timeout = timeout;
  return sdk(session, 'POST', '/processes/cmd', data);
}

describe('POST /contexts/execute', () => {
  test('without a context (language only): the default context runs it; stdout, exitCode 0', async () => {
    const answer = await executeCode('ar-exec', { code: "print('hello world')", language: 'python' });
    assert.equal(answer.status, 200, answer.text);
    const execution = AgentRunExecution.parse(answer.json);
    assert.equal(execution.stdout, 'hello world\n');
    assert.equal(execution.exitCode, 0);
    assert.equal(execution.error, null);
    assert.equal(execution.contextId, 'default-python');
  });

  test('in a context made by createContext: state kept, the value in results, an error with exitCode 1', async () => {
    const created = await sdk('ar-exec', 'POST', '/contexts', { cwd: '/home/user', language: 'python' });
    assert.equal(created.status, 200, created.text);
    const contextId = created.json.id as string;
    const got = await sdk('ar-exec', 'GET', `/contexts/${contextId}`);
    assert.deepEqual([got.json.id, got.json.cwd, got.json.language], [contextId, '/home/user', 'python']);

    assert.equal((await executeCode('ar-exec', { code: 'x = 41', contextId })).json.exitCode, 0);
    const value = AgentRunExecution.parse((await executeCode('ar-exec', { code: 'x + 1', contextId })).json);
    assert.equal(value.results[0]?.text, '42');
    assert.equal(value.results[0]?.is_main_result, true);
    assert.equal(value.contextId, contextId);
    assert.ok((value.executionCount ?? 0) >= 2, JSON.stringify(value));

    // The SDK's ContextOperations may send both: the context wins.
    const both = await executeCode('ar-exec', { code: 'x', contextId, language: 'python' });
    assert.equal(both.json.results[0]?.text, '41');

    const failed = AgentRunExecution.parse((await executeCode('ar-exec', { code: 'print("before")\n1/0', contextId })).json);
    assert.equal(failed.exitCode, 1);
    assert.equal(failed.stdout, 'before\n');
    assert.equal(failed.error?.name, 'ZeroDivisionError');
  });

  test("the sandbox's timeout holds (the SDK's timeout in seconds), and an unknown context is a 404", async () => {
    const slow = AgentRunExecution.parse((await executeCode('ar-exec', { code: 'import time; time.sleep(20)', timeout: 1 })).json);
    assert.equal(slow.error?.name, 'TimeoutError', JSON.stringify(slow));
    assert.equal(slow.exitCode, 1);
    const unknown = await executeCode('ar-exec', { code: '1', contextId: 'no-such-context' });
    assert.equal(unknown.status, 404, unknown.text);
    const bad = await sdk('ar-exec', 'POST', '/contexts/execute', { code: 1 });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /code/);
  });
});

describe('POST /processes/cmd', () => {
  test('runs in the session workspace as the code does, before any context: stdout, stderr, exitCode (top level and in result)', async () => {
    const session = 'ar-cmd';
    const wrote = await sdk(session, 'POST', '/files', {
      path: 'data.txt',
      content: 'from the file API',
      mode: '644',
      encoding: 'utf-8',
      createDir: true,
    });
    assert.equal(wrote.status, 200, wrote.text);
    const answer = await cmd(session, 'cat data.txt; echo; echo oops >&2; pwd; echo made > out.txt', '/home/user', 30);
    assert.equal(answer.status, 200, answer.text);
    const result = CommandResult.parse(answer.json);
    assert.equal(result.stdout, 'from the file API\n/home/user\n');
    assert.equal(result.stderr, 'oops\n');
    assert.equal(result.exitCode, 0);
    assert.deepEqual(result.result, { stdout: result.stdout, stderr: result.stderr, exitCode: 0 });
    assert.equal((await sdk(session, 'GET', '/files?path=out.txt')).json.content, 'made\n');

    // The same user and the same files as the session's code.
    const contextId = (await sdk(session, 'POST', '/contexts', { cwd: '/home/user', language: 'python' })).json.id;
    const code = await executeCode(session, { code: 'import os; print(os.getuid(), open("out.txt").read().strip())', contextId });
    const shell = CommandResult.parse((await cmd(session, 'echo "$(id -u) $(cat out.txt)"', '/home/user')).json);
    assert.equal(shell.stdout, code.json.stdout);
  });

  test('exit codes, cwd relative to the workspace or missing, and a session header of another session sees other files', async () => {
    const session = 'ar-cmd-2';
    assert.equal(CommandResult.parse((await cmd(session, 'exit 3', '/home/user')).json).exitCode, 3);
    assert.equal((await cmd(session, 'mkdir -p sub/dir', '/home/user')).json.exitCode, 0);
    assert.equal((await cmd(session, 'pwd', 'sub/dir')).json.stdout, '/home/user/sub/dir\n');
    const missing = CommandResult.parse((await cmd(session, 'echo never', '/home/user/nowhere')).json);
    assert.equal(missing.exitCode, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /nowhere/);
    // Another session has a workspace of its own.
    assert.equal((await cmd('ar-cmd-other', 'test -e sub && echo seen || echo unseen', '/home/user')).json.stdout, 'unseen\n');
    const bad = await sdk(session, 'POST', '/processes/cmd', { cwd: '/home/user' });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /command/);
  });

  test('the timeout stops the command and everything it started; the answer says why', async () => {
    const started = Date.now();
    const answer = CommandResult.parse((await cmd('ar-cmd-3', 'sleep 60 & sleep 60; echo never', '/home/user', 1)).json);
    assert.ok(Date.now() - started < 15_000);
    assert.equal(answer.exitCode, 137);
    assert.match(answer.error ?? '', /timed out after 1 s/);
    assert.equal(answer.stdout, '');
    // A command that leaves a process in the background answers at its own end, not the process's.
    const quick = Date.now();
    const background = CommandResult.parse((await cmd('ar-cmd-3', 'sleep 60 & echo left', '/home/user', 20)).json);
    assert.equal(background.stdout, 'left\n');
    assert.equal(background.exitCode, 0);
    assert.ok(Date.now() - quick < 10_000, 'the answer did not wait for the background sleep');
    // A background process ends with its command: none of the session's sleeps is left on the host.
    const left = await eventually(() => !holdings(sandbox.workspaceRoot).processes.some((pid) => isSleep(pid)), 5_000);
    assert.ok(left, 'no sleep of the command is left');
  });

  test('output past the cap (SANDBOX_OUTPUT_LIMIT_BYTES, 4 MiB by default) stops the command', async () => {
    // (One sandbox per process: two would share their cgroup parent, which the first to close removes.)
    const answer = CommandResult.parse((await cmd('ar-cap', 'yes', '/home/user', 30)).json);
    assert.match(answer.error ?? '', /output over 4194304 bytes \(SANDBOX_OUTPUT_LIMIT_BYTES\)/);
    assert.equal(answer.stdout.length, 4 * 1024 * 1024);
    assert.equal(answer.exitCode, 137);
  });
});

describe('GET /processes, GET and DELETE /processes/:pid', () => {
  test('a running command is listed and found by its pid, DELETE kills it, then it is gone', async () => {
    const session = 'ar-proc';
    assert.deepEqual((await sdk(session, 'GET', '/processes')).json, []);
    const running = cmd(session, 'echo started; touch started.txt; sleep 60', '/home/user', 120);
    let listed: ProcessInfo[] = [];
    assert.ok(
      await eventually(async () => {
        listed = ProcessList.parse((await sdk(session, 'GET', '/processes')).json);
        return listed.length === 1;
      }),
      'the command is listed while it runs',
    );
    // Its output so far comes back with its answer: wait until it has written some.
    assert.ok(await eventually(async () => (await sdk(session, 'GET', '/filesystem/stat?path=started.txt')).status === 200));
    const [info] = listed;
    assert.equal(info!.name, 'echo');
    assert.equal(info!.status, 'running');
    assert.equal(info!.cwd, '/home/user');
    assert.deepEqual(ProcessInfo.parse((await sdk(session, 'GET', `/processes/${info!.pid}`)).json), info);
    // Another session does not see it, nor may it kill it.
    assert.deepEqual((await sdk('ar-proc-other', 'GET', '/processes')).json, []);
    assert.equal((await sdk('ar-proc-other', 'DELETE', `/processes/${info!.pid}`)).status, 404);

    const killed = await sdk(session, 'DELETE', `/processes/${info!.pid}`);
    assert.equal(killed.status, 200, killed.text);
    assert.deepEqual(killed.json, { pid: info!.pid, killed: true });
    const answer = CommandResult.parse((await running).json);
    assert.equal(answer.exitCode, 137);
    assert.equal(answer.stdout, 'started\n');
    assert.match(answer.error ?? '', /killed by DELETE \/processes\//);
    assert.deepEqual((await sdk(session, 'GET', '/processes')).json, []);
    const gone = await sdk(session, 'GET', `/processes/${info!.pid}`);
    assert.equal(gone.status, 404);
    assert.match(gone.text, /no running command with pid/);
    assert.equal((await sdk(session, 'GET', '/processes/abc')).status, 400);
  });

  test(`at most ${MAX_COMMANDS_PER_SESSION} commands run at once in a session; past it a 429`, async () => {
    const session = 'ar-many';
    const calls = Array.from({ length: MAX_COMMANDS_PER_SESSION + 1 }, () => cmd(session, 'sleep 2', '/home/user', 30));
    const answers = await Promise.all(calls);
    const refused = answers.filter((answer) => answer.status === 429);
    assert.equal(refused.length, 1, answers.map((answer) => `${answer.status} ${answer.text}`).join('\n'));
    assert.match(refused[0]!.text, /command limit reached: a session runs at most 4 commands at once/);
    assert.equal(answers.filter((answer) => answer.status === 200 && answer.json.exitCode === 0).length, MAX_COMMANDS_PER_SESSION);
  });

  test("a session's end stops its commands; nothing is left on the host", async () => {
    const session = 'ar-end';
    const contextId = (await sdk(session, 'POST', '/contexts', { cwd: '/home/user', language: 'python' })).json.id;
    const running = cmd(session, 'sleep 60', '/home/user', 120);
    assert.ok(await eventually(async () => (await sdk(session, 'GET', '/processes')).json.length === 1));
    assert.equal((await sdk(session, 'DELETE', `/contexts/${contextId}`)).status, 200);
    const answer = CommandResult.parse((await running).json);
    assert.match(answer.error ?? '', /the session ended/);
    assert.equal(await sandbox.workspaceOf(session), undefined);
  });

  test('asked as the MCP side asks (the session must exist), a fresh session is a 404 and opens nothing', async () => {
    const answer = await sdk(
      'ar-never',
      'POST',
      '/processes/cmd',
      { command: 'true', cwd: '/home/user' },
      { [EXISTING_SESSION_HEADER]: '1' },
    );
    assert.equal(answer.status, 404);
    assert.match(answer.text, /unknown or expired context/);
    assert.equal(await sandbox.workspaceOf('ar-never'), undefined);
  });
});

describe('afterwards', () => {
  test('with every session ended, the host holds nothing of the commands', async () => {
    await sandbox.close();
    assert.ok(isEmpty(holdings(sandbox.workspaceRoot)), JSON.stringify(holdings(sandbox.workspaceRoot)));
  });
});

describe('with the network allowed', () => {
  let net: RunningSandbox;
  before(async () => {
    net = await startSandbox({ port: 0, poolSize: 0, allowNetwork: true });
  });
  after(async () => {
    await net?.close();
  });

  test("a command starts once its jail's way out is up (a default route from its first line), as a kernel's code does", async () => {
    for (let round = 0; round < 3; round++) {
      const response = await fetch(`${net.url}/processes/cmd`, {
        method: 'POST',
        headers: sdkHeaders(`ar-net-${round}`),
        body: JSON.stringify({ command: `awk '$2 == "00000000"' /proc/net/route | wc -l`, cwd: '/home/user' }),
      });
      const answer = CommandResult.parse(await response.json());
      assert.equal(answer.stdout, '1\n', JSON.stringify(answer));
    }
  });
});

describe('with the jail off (as in a container that forbids namespaces)', () => {
  let off: RunningSandbox;
  before(async () => {
    // startSandbox decides the jail (as npm start and the image do with SANDBOX_JAIL=off).
    off = await startSandbox({ port: 0, poolSize: 0, jail: 'off' }, { log: () => {} });
  });
  after(async () => {
    await off?.close();
    await decideJail('auto');
    // The symlink unjailed processes made for the workspace's inside path (unjailed-process.ts).
    if (lstatSync(WORKSPACE_DIR, { throwIfNoEntry: false })?.isSymbolicLink()) unlinkSync(WORKSPACE_DIR);
  });

  test("a command runs under the session's uid in its workspace, and what it started in the background ends with it", async () => {
    const call = (command: string, timeout = 30) =>
      fetch(`${off.url}/processes/cmd`, {
        method: 'POST',
        headers: sdkHeaders('ar-off'),
        body: JSON.stringify({ command, cwd: '/home/user', timeout }),
      }).then(async (response) => CommandResult.parse(await response.json()));
    const ran = await call('id -u; echo made > made.txt');
    assert.equal(ran.exitCode, 0, ran.stderr);
    if (process.getuid?.() === 0) assert.ok(Number(ran.stdout.trim()) >= 200_000, `a session uid, got ${ran.stdout}`);
    const read = await fetch(`${off.url}/files?path=made.txt`, { headers: sdkHeaders('ar-off') });
    assert.equal(((await read.json()) as { content: string }).content, 'made\n');
    const started = Date.now();
    const background = await call('sleep 60 & echo left', 20);
    assert.equal(background.stdout, 'left\n');
    assert.equal(background.exitCode, 0);
    assert.ok(Date.now() - started < 10_000, 'the answer did not wait for the background sleep');
  });
});

function isSleep(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep';
  } catch {
    return false;
  }
}
