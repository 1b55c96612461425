/**
 * Stopping the stdio server leaves nothing: `npm run stdio` (what desktop clients start, with its own sandbox service)
 * stopped by a signal to its process group while a run prints, or by its client closing
 * stdin, leaves nothing of its sandbox on the host. On a signal the call in flight gets its
 * error, not silence; once stdin has closed nothing more is answered (the stdio binding lets
 * a server exit at once then). Driven over raw JSON-RPC lines, as a client writes them, as root.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { sweepRoot } from '../../../src/sandbox-service/roots/leftovers.ts';
import { eventually } from '../../support/eventually.ts';
import { ROOT } from '../../support/mcp-harness.ts';
import { freshTmp, groupAlive, leftovers } from '../../support/shutdown-support.ts';

const tmps: string[] = [];
after(async () => {
  for (const tmp of tmps) await sweepRoot(tmp, { removeRoot: true }); // whatever a failed trial left
});

interface Answer {
  id?: number;
  result?: { isError?: boolean; content?: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };
  error?: { message: string };
}

function startStdio() {
  const tmp = freshTmp();
  tmps.push(tmp);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(MCP_|SANDBOX_|CONTEXT_SECRET|LOG_LEVEL|FC_|npm_)/.test(k)) env[k] = v;
  }
  Object.assign(env, { TMPDIR: tmp, SANDBOX_POOL_SIZE: '0', LOG_LEVEL: 'info' });
  const child = spawn('npm', ['run', '--silent', 'stdio'], { cwd: ROOT, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // 'close', not 'exit': by then every byte it wrote to stdout has been read.
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const answers = () =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Answer);
  const answerTo = (id: number) => answers().find((answer) => answer.id === id);
  const send = (message: object) => child.stdin!.write(`${JSON.stringify(message)}\n`);
  const call = async (id: number, name: string, args: Record<string, unknown>) => {
    send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
    assert.ok(await eventually(() => answerTo(id) !== undefined, 120_000), `no answer to ${name}\nstdout:\n${out}\nstderr:\n${err}`);
    return answerTo(id)!;
  };
  send({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return { child, tmp, exited, send, call, answerTo, stderr: () => err };
}

for (const how of ['SIGTERM to the process group', 'stdin closed by the client'] as const) {
  test(`npm run stdio, ${how} while a run prints: nothing of the sandbox remains${how.startsWith('SIGTERM') ? ', the call gets its error' : ''}`, async () => {
    const server = startStdio();
    try {
      const created = await server.call(2, 'create_context', { language: 'python' });
      const contextId = created.result?.structuredContent?.context_id as string;
      assert.ok(contextId, JSON.stringify(created));
      assert.ok(leftovers(server.tmp).length > 0, 'the context holds a workspace under its TMPDIR while it lives');
      server.send({
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: {
          name: 'run_code',
          arguments: { context_id: contextId, code: 'import time\nfor i in range(600):\n    print(i, flush=True)\n    time.sleep(0.1)' },
        },
      });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      if (how === 'stdin closed by the client') server.child.stdin!.end();
      else process.kill(-server.child.pid!, 'SIGTERM');
      const [code, signal] = await server.exited;
      assert.ok(await eventually(() => !groupAlive(server.child.pid!)), 'every process of the group ends');
      if (how === 'SIGTERM to the process group') {
        const answer = server.answerTo(3);
        assert.ok(answer, `the run in flight got no answer\n${server.stderr()}`);
        assert.equal(answer.result?.isError, true, JSON.stringify(answer));
        assert.match(JSON.stringify(answer.result?.content), /shutting down/);
        assert.equal(code ?? signal, 0, server.stderr());
        assert.match(server.stderr(), /stopped on SIGTERM in \d+\.\d s/);
      }
      assert.deepEqual(leftovers(server.tmp), [], server.stderr());
    } finally {
      if (groupAlive(server.child.pid!)) process.kill(-server.child.pid!, 'SIGKILL');
    }
  });
}
