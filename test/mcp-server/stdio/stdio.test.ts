// Desktop clients: MCP over stdio (handlers/stdio.ts) through the official v2 client's
// StdioClientTransport, in both protocol eras, with the process starting its own
// sandbox service as it does for users.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { eventually } from '../../support/eventually.ts';
import { call, ERAS, MODERN_VERSION, newClient, ROOT, structured, textOf } from '../../support/mcp-harness.ts';

for (const era of ERAS) {
  describe(`stdio, ${era} era`, () => {
    let stderr = '';
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', 'handlers/stdio.ts'],
      cwd: ROOT,
      env: { ...getDefaultEnvironment(), SANDBOX_POOL_SIZE: '0', LOG_LEVEL: 'info' },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = newClient(era);

    after(async () => {
      await client.close(); // closes stdin; the server stops its own sandbox service and exits
    });

    test('create a context, keep state across runs, list and stop it', async () => {
      await client.connect(transport);
      assert.equal(
        client.getNegotiatedProtocolVersion() === MODERN_VERSION,
        era === 'modern',
        `negotiated ${client.getNegotiatedProtocolVersion()}`,
      );
      const id = structured<{ context_id: string }>(
        await call(client, 'create_context', { description: 'from a desktop client' }),
      ).context_id;
      await call(client, 'run_code', { context_id: id, code: 'import pandas as pd\ndf = pd.DataFrame({"a": [1, 2, 3]})' });
      const run = await call(client, 'run_code', { context_id: id, code: 'print(df["a"].sum())' });
      assert.equal(run.isError, false, textOf(run));
      assert.equal(structured<{ stdout: string }>(run).stdout, '6\n');
      const listed = structured<{ contexts: { context_id: string; description: string }[] }>(await call(client, 'list_contexts')).contexts;
      assert.equal(listed.find((c) => c.context_id === id)?.description, 'from a desktop client');
      assert.equal(structured<{ success: boolean }>(await call(client, 'stop_context', { context_id: id })).success, true);
    });

    test('logs go to stderr as JSON lines, never to the protocol stream', async () => {
      assert.equal(structured<{ status: string }>(await call(client, 'health_check')).status, 'healthy');
      // stderr and stdout are separate pipes: the log line may land just after the answer.
      const logged = () => stderr.split('\n').some((l) => l.startsWith('{') && JSON.parse(l).tool === 'health_check');
      assert.ok(await eventually(logged), `a JSON log line for the call on stderr:\n${stderr}`);
    });
  });
}
