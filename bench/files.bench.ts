/**
 * Files in and out of a context, a 20 MB file each way, side by side in one run:
 * - the sandbox API (multipart upload, raw download) against `cp` of the same file on
 *   the same disk, the floor (the targets: upload ≤ 2×, download ≤ 1.5×), and the upload with its
 *   multipart body built before the clock (what the server and the worker take);
 * - MCP (write_file with base64 content, read_file) against the sandbox API.
 * Prints MB/s per path and the ratios.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startSandbox } from '../src/sandbox-service/index.ts';
import { startMcp } from '../test/support/mcp-harness.ts';
import { withTimeout } from './lib/sample.ts';
import { summarize } from './lib/stats.ts';
import { formatMarkdownTable } from './lib/table.ts';

const SIZE = 20 * 1024 * 1024;
const ROUNDS = 7;
/** What one step may take at most, on a loaded machine (a 20 MB MCP call took 5 s at load 12). */
const STEP_TIMEOUT_MS = 120_000;
const SESSION = { 'x-ci-session-id': 'bench-files' };

const bytes = randomBytes(SIZE);
const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, poolSize: 1 });
const mcp = await startMcp({
  SANDBOX_URL: sandbox.url,
  MCP_MAX_BODY_BYTES: String(64 * 1024 * 1024),
  MCP_MAX_FILE_BYTES: String(SIZE * 2),
});
const client = new Client({ name: 'bench-files', version: '1.0.0' });
try {
  await client.connect(new StreamableHTTPClientTransport(new URL(mcp.url)));
  // The floor: a copy of the file on the disk the workspaces live on.
  const source = join(sandbox.workspaceRoot, 'bench-source.bin');
  writeFileSync(source, bytes);
  const created = await client.callTool({ name: 'create_context', arguments: {} });
  const contextId = (created.structuredContent as { context_id: string }).context_id;
  const base64 = bytes.toString('base64');

  let step = 'start';
  const timed = async (run: () => Promise<void> | void) => {
    const started = performance.now();
    // A step that hangs fails the bench naming it, rather than stopping `npm run bench` there.
    await withTimeout(Promise.resolve(run()), STEP_TIMEOUT_MS).catch((error: Error) => {
      throw new Error(`${step}: ${error.message}`);
    });
    return performance.now() - started;
  };
  const samples: Record<string, number[]> = { cp: [], upload: [], uploadEncoded: [], download: [], mcpWrite: [], mcpRead: [] };
  for (let round = 0; round < ROUNDS + 1; round++) {
    const keep = round > 0; // the first round warms every path up
    const add = (name: string, ms: number) => keep && samples[name]!.push(ms);
    const at = (name: string) => {
      step = `round ${round}, ${name}`;
      return name;
    };
    add(at('cp'), await timed(() => void execFileSync('cp', [source, join(sandbox.workspaceRoot, 'bench-copy.bin')])));
    add(
      at('upload'),
      await timed(async () => {
        const form = new FormData();
        form.append('path', 'upload.bin');
        form.append('file', new Blob([bytes]));
        const response = await fetch(`${sandbox.url}/filesystem/upload`, { method: 'POST', headers: SESSION, body: form });
        if (!response.ok) throw new Error(`upload: ${response.status} ${await response.text()}`);
      }),
    );
    add(
      at('download'),
      await timed(async () => {
        const response = await fetch(`${sandbox.url}/filesystem/download?path=upload.bin`, { headers: SESSION });
        if ((await response.arrayBuffer()).byteLength !== SIZE) throw new Error('download: wrong size');
      }),
    );
    add(
      at('mcpWrite'),
      await timed(async () => {
        const result = await client.callTool({
          name: 'write_file',
          arguments: { context_id: contextId, path: 'mcp.bin', content: base64, encoding: 'base64' },
        });
        if (result.isError) throw new Error(JSON.stringify(result.content));
      }),
    );
    add(
      at('mcpRead'),
      await timed(async () => {
        const result = await client.callTool({ name: 'read_file', arguments: { context_id: contextId, path: 'mcp.bin', max_bytes: SIZE } });
        if (result.isError) throw new Error(JSON.stringify(result.content));
      }),
    );
  }
  // The same upload with its multipart body built before the clock starts: the server's share (the
  // upload line also times the client encoding 20 MB into multipart, in this same process). Rounds of
  // its own after the others, so that those are timed as before it came.
  const form = new FormData();
  form.append('path', 'upload-encoded.bin');
  form.append('file', new Blob([bytes]));
  const encoded = new Request('http://encode/', { method: 'POST', body: form });
  const multipart = { type: encoded.headers.get('content-type')!, body: Buffer.from(await encoded.arrayBuffer()) };
  for (let round = 0; round < ROUNDS + 1; round++) {
    step = `round ${round}, uploadEncoded`;
    const ms = await timed(async () => {
      const headers = { ...SESSION, 'content-type': multipart.type };
      const response = await fetch(`${sandbox.url}/filesystem/upload`, { method: 'POST', headers, body: multipart.body });
      if (!response.ok) throw new Error(`upload: ${response.status} ${await response.text()}`);
    });
    if (round > 0) samples.uploadEncoded!.push(ms);
  }
  const p50 = (name: string) => summarize(samples[name]!).p50;
  const mbps = (name: string) => (SIZE / 1024 / 1024 / (p50(name) / 1000)).toFixed(0);
  const ratio = (ours: string, base: string) => `${(p50(ours) / p50(base)).toFixed(1)}×`;
  /** A table row: the path's p50 and MB/s, and against its baseline (and the target, where there is one). */
  const row = (name: string, key: string, base?: string, limit?: number) => [
    name,
    p50(key).toFixed(0),
    mbps(key),
    base ?? '—',
    base ? ratio(key, base) : '—',
    limit ? `≤ ${limit}×` : '—',
    base && limit ? (p50(key) / p50(base) <= limit ? 'met' : '**missed**') : '—',
  ];
  console.log(`20 MB file, p50 of ${ROUNDS} rounds; ratio = time of the path / time of its baseline\n`);
  console.log(
    formatMarkdownTable([
      ['path', 'p50 ms', 'MB/s', 'baseline', 'ratio', 'target', 'result'],
      row('cp on the workspace disk (floor)', 'cp'),
      row('sandbox API upload (multipart)', 'upload', 'cp', 2),
      row('  the same, body encoded before the clock', 'uploadEncoded', 'cp'),
      row('sandbox API download', 'download', 'cp', 1.5),
      row('MCP write_file (base64)', 'mcpWrite', 'upload'),
      row('MCP read_file', 'mcpRead', 'download'),
    ]),
  );
} finally {
  await client.close().catch(() => {});
  await mcp.stop();
  await sandbox.close();
}
