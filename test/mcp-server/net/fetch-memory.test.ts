/**
 * write_file's downloads are bounded per process (found by a security review): 20 concurrent
 * `write_file {url}` of 20 MiB each took the MCP process from 110 to 959 MB, where FC gives
 * the function 256 MB for every tenant. A real MCP server process (the default budget,
 * MCP_FETCH_MAX_BYTES_IN_FLIGHT 64 MiB) on a real sandbox, a loopback file server (allowed
 * with MCP_FETCH_ALLOW_HOSTS), half the files with a Content-Length and half chunked; the
 * process's peak resident memory (VmHWM) is read from /proc.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { CallToolResult, Client } from '@modelcontextprotocol/client';
import { DEFAULT_FETCH_MAX_BYTES_IN_FLIGHT } from '../../../src/mcp-server/config.ts';
import { call, connect, type McpProcess, mcpOnSandbox, structured, textOf } from '../../support/mcp-harness.ts';

const FILE_BYTES = 20 * 1024 * 1024;
const CALLS = 20;
const MiB = 1024 * 1024;
const servers = mcpOnSandbox();
let files: Server;
let letGo: () => void = () => {};
let held = new Promise<void>((resolve) => (letGo = resolve));
let filesOrigin: string;
let mcp: McpProcess;
let client: Client;
let contextId: string;
let bob: Client;
let bobContext: string;
const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdefgh';

before(async () => {
  const block = Buffer.alloc(MiB, 'x');
  files = createServer((req, res) => {
    // /sized and /held: a Content-Length; /chunked: none, so the budget is taken as the bytes arrive.
    res.writeHead(200, req.url === '/chunked' ? {} : { 'content-length': String(FILE_BYTES) });
    let sent = 0;
    const pump = () => {
      while (sent < FILE_BYTES) {
        sent += block.length;
        if (!res.write(block)) return void res.once('drain', pump);
      }
      res.end();
    };
    // /held: the first MiB, then the rest once the test lets go.
    if (req.url === '/held') {
      res.write(block);
      sent = block.length;
      return void held.then(pump);
    }
    pump();
  });
  files.listen(0, '127.0.0.1');
  await once(files, 'listening');
  filesOrigin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  mcp = await servers.start({ MCP_FETCH_ALLOW_HOSTS: '127.0.0.1', MCP_AUTH_TOKEN: `alice:${ALICE},bob:${BOB}` });
  client = await connect(mcp.url, { authorization: `Bearer ${ALICE}` });
  contextId = structured<{ context_id: string }>(await call(client, 'create_context')).context_id;
  bob = await connect(mcp.url, { authorization: `Bearer ${BOB}` });
  bobContext = structured<{ context_id: string }>(await call(bob, 'create_context')).context_id;
});

after(async () => {
  await client?.close();
  await bob?.close();
  files?.closeAllConnections();
  files?.close();
});

/** The MCP process's resident memory now and at its peak, in MiB. */
function memory(): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${mcp.pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) / 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

test(`${CALLS} concurrent 20 MiB downloads hold at most MCP_FETCH_MAX_BYTES_IN_FLIGHT; the rest fail clearly, the budget comes back`, async (t) => {
  const before = memory();
  const results = await Promise.all(
    Array.from({ length: CALLS }, (_, i) =>
      call(client, 'write_file', { context_id: contextId, path: `big-${i}.bin`, url: `${filesOrigin}/${i % 2 ? 'sized' : 'chunked'}` }),
    ),
  );
  const after = memory();
  const written = results.filter((r) => !r.isError);
  const refused = results.filter((r) => r.isError);
  t.diagnostic(
    `RSS before ${before.rss.toFixed(0)} MiB, peak ${after.peak.toFixed(0)} MiB (+${(after.peak - before.rss).toFixed(0)}); ${written.length} written, ${refused.length} refused`,
  );
  for (const result of written) assert.equal(structured<{ size: number }>(result).size, FILE_BYTES);
  for (const result of refused) {
    assert.equal(structured<{ error: { kind: string } }>(result).error.kind, 'fetch_failed', textOf(result));
    assert.match(textOf(result), /MCP_FETCH_MAX_BYTES_IN_FLIGHT\).*; try again/);
  }
  assert.ok(written.length >= 1, 'some downloads fit');
  // The budget, and what holding it costs beyond the bytes (chunks, the upload's buffers, the heap's slack).
  const bound = DEFAULT_FETCH_MAX_BYTES_IN_FLIGHT / MiB + 96;
  assert.ok(after.peak - before.rss < bound, `the peak grew by ${(after.peak - before.rss).toFixed(0)} MiB, over ${bound}`);
  // Everything was given back: one more download of the full size fits.
  const again: CallToolResult = await call(client, 'write_file', { context_id: contextId, path: 'again.bin', url: `${filesOrigin}/sized` });
  assert.equal(structured<{ size: number }>(again).size, FILE_BYTES, textOf(again));
});

test("one tenant's downloads leave room for another's: a tenant holds at most half of MCP_FETCH_MAX_BYTES_IN_FLIGHT", async () => {
  held = new Promise<void>((resolve) => (letGo = resolve));
  // Alice's downloads stay open (each has announced 20 MiB) until bob's is done.
  const alices = Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      call(client, 'write_file', { context_id: contextId, path: `held-${i}.bin`, url: `${filesOrigin}/held` }),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const bobs = await call(bob, 'write_file', { context_id: bobContext, path: 'mine.bin', url: `${filesOrigin}/sized` });
  letGo();
  const results = await alices;
  assert.equal(structured<{ size: number }>(bobs).size, FILE_BYTES, textOf(bobs));
  const refused = results.filter((r) => r.isError);
  assert.equal(results.length - refused.length, 1, 'alice: one 20 MiB download in her half of 64 MiB');
  for (const result of refused)
    assert.match(textOf(result), /share for one caller \(33554432 bytes, half of MCP_FETCH_MAX_BYTES_IN_FLIGHT\)/);
});
