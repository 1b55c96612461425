// Files in and out of a context through the official MCP client (both protocol eras for
// the round trips), against a real MCP server process and a real sandbox service:
// write_file, read_file, list_files, the file resources, run_code's links to files a run
// wrote, and the refusals (paths, links, sizes, URLs to private addresses) and privacy.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { CallToolResult, Client } from '@modelcontextprotocol/client';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { ERAS, type Era, call, connect, connectEachEra, startMcp, structured, textOf, type McpProcess } from '../../support/mcp-harness.ts';

const MAX_FILE_BYTES = 4 * 1024 * 1024;
let sandbox: RunningSandbox;
let mcp: McpProcess;
let files: Server;
let filesUrl: string;
const served = randomBytes(300_000);
let clients: Map<Era, Client>;

before(async () => {
  // A loopback file server, reachable only because the allow-list names 127.0.0.1.
  files = createServer((request, response) => {
    if (request.url === '/data.bin') return void response.end(served);
    if (request.url === '/to-localhost') {
      response.writeHead(302, { location: `http://localhost:${(files.address() as AddressInfo).port}/data.bin` });
      return void response.end();
    }
    if (request.url === '/endless') {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (response.write(chunk));
      };
      response.on('drain', pump);
      pump();
      return;
    }
    if (request.url === '/trickle') {
      // A byte every 400 ms, for as long as the client stays.
      response.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => response.write('x'), 400);
      response.on('close', () => clearInterval(timer));
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  sandbox = await startSandbox({ host: '127.0.0.1', port: 0, poolSize: 1 });
  mcp = await startMcp({
    SANDBOX_URL: sandbox.url,
    MCP_MAX_FILE_BYTES: String(MAX_FILE_BYTES),
    MCP_FETCH_ALLOW_HOSTS: '127.0.0.1',
  });
  clients = await connectEachEra(mcp.url);
});

after(async () => {
  for (const client of clients?.values() ?? []) await client.close();
  await mcp?.stop();
  await sandbox?.close();
  files?.closeAllConnections();
  await new Promise((resolve) => files?.close(resolve));
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function newContext(client: Client, language = 'python'): Promise<string> {
  const result = await call(client, 'create_context', { language });
  assert.equal(result.isError, undefined, textOf(result));
  return structured<{ context_id: string }>(result).context_id;
}

async function run(client: Client, contextId: string, code: string): Promise<CallToolResult> {
  const result = await call(client, 'run_code', { context_id: contextId, code });
  assert.notEqual(result.isError, true, textOf(result));
  return result;
}

function ok(result: CallToolResult): CallToolResult {
  assert.notEqual(result.isError, true, textOf(result));
  return result;
}

function refused(result: CallToolResult, kind: string, message: RegExp): void {
  assert.equal(result.isError, true, textOf(result));
  assert.equal(structured<{ error: { kind: string } }>(result).error.kind, kind, textOf(result));
  assert.match(textOf(result), message);
}

for (const era of ERAS) {
  describe(`files round trips (${era} era)`, () => {
    let client: Client;
    let ctx: string;
    before(async () => {
      client = clients.get(era)!;
      ctx = await newContext(client);
    });

    test('a CSV written with write_file is read by pandas', async () => {
      const written = ok(
        await call(client, 'write_file', { context_id: ctx, path: 'data/sales.csv', content: 'month,sales\n1,10\n2,30\n' }),
      );
      assert.deepEqual(structured(written), {
        path: '/home/user/data/sales.csv',
        size: 22,
        uri: `sandbox://contexts/${encodeURIComponent(ctx)}/files/data/sales.csv`,
      });
      const result = await run(client, ctx, 'import pandas as pd\nint(pd.read_csv("data/sales.csv")["sales"].sum())');
      assert.match(textOf(result), /40/);
    });

    test('1 MB of random bytes written as base64 arrive intact', async () => {
      const bytes = randomBytes(1024 * 1024);
      ok(await call(client, 'write_file', { context_id: ctx, path: 'random.bin', content: bytes.toString('base64'), encoding: 'base64' }));
      const result = await run(client, ctx, 'import hashlib\nhashlib.sha256(open("random.bin","rb").read()).hexdigest()');
      assert.match(textOf(result), new RegExp(sha256(bytes)));
    });

    test('an Excel file made by openpyxl comes back from read_file as a blob with the same bytes', async () => {
      const made = await run(
        client,
        ctx,
        'import openpyxl, hashlib\nwb = openpyxl.Workbook()\nwb.active["A1"] = 42\nwb.save("out/book.xlsx") if __import__("os").makedirs("out", exist_ok=True) is None else None\nhashlib.sha256(open("out/book.xlsx","rb").read()).hexdigest()',
      );
      const expected = /([0-9a-f]{64})/.exec(textOf(made))![1]!;
      const read = ok(await call(client, 'read_file', { context_id: ctx, path: 'out/book.xlsx' }));
      const block = read.content.find((c) => c.type === 'resource') as { resource: { blob: string; mimeType: string } } | undefined;
      assert.ok(block, JSON.stringify(read.content).slice(0, 200));
      assert.equal(block.resource.mimeType, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
      assert.equal(sha256(Buffer.from(block.resource.blob, 'base64')), expected);
      assert.equal(structured<{ kind: string }>(read).kind, 'binary');
      // and pandas reads it back (openpyxl is what pd.read_excel needs)
      assert.match(textOf(await run(client, ctx, 'import pandas as pd\nint(pd.read_excel("out/book.xlsx", header=None).iloc[0,0])')), /42/);
    });

    test('a matplotlib PNG comes back from read_file as image content', async () => {
      await run(client, ctx, 'import matplotlib.pyplot as plt\nplt.plot([1,2,3])\nplt.savefig("chart.png")\nplt.close()');
      const read = ok(await call(client, 'read_file', { context_id: ctx, path: 'chart.png' }));
      const image = read.content.find((c) => c.type === 'image') as { data: string; mimeType: string } | undefined;
      assert.equal(image?.mimeType, 'image/png');
      assert.deepEqual([...Buffer.from(image!.data, 'base64').subarray(1, 4)], [...Buffer.from('PNG')]);
    });

    test('list_files shows what is there', async () => {
      const listed = structured<{ files: { path: string; type: string; size: number | null }[] }>(
        ok(await call(client, 'list_files', { context_id: ctx, depth: 2 })),
      );
      const paths = listed.files.map((f) => f.path);
      for (const path of ['/home/user/data', '/home/user/data/sales.csv', '/home/user/random.bin', '/home/user/chart.png']) {
        assert.ok(paths.includes(path), `${path} in ${paths.join(', ')}`);
      }
      assert.equal(listed.files.find((f) => f.path === '/home/user/random.bin')?.size, 1024 * 1024);
    });

    test('resources/read serves a file by its template URI; a missing one is resource-not-found', async () => {
      const templates = await client.listResourceTemplates();
      assert.ok(templates.resourceTemplates.some((t) => t.uriTemplate === 'sandbox://contexts/{context_id}/files/{+path}'));
      const uri = `sandbox://contexts/${encodeURIComponent(ctx)}/files/data/sales.csv`;
      const read = await client.readResource({ uri });
      assert.equal((read.contents[0] as { text: string }).text, 'month,sales\n1,10\n2,30\n');
      // The 2026-07-28 spec's resource-not-found: -32602 whose data is exactly { uri }.
      const missing = `sandbox://contexts/${encodeURIComponent(ctx)}/files/nope.txt`;
      await assert.rejects(client.readResource({ uri: missing }), (error: Error & { code?: number; data?: unknown }) => {
        assert.equal(error.code, -32602);
        assert.deepEqual(error.data, { uri: missing });
        assert.match(error.message, /no such file/);
        return true;
      });
    });

    test('a run that writes a file gets a resource link to it in its result', async () => {
      const result = await run(
        client,
        ctx,
        'import os\nos.makedirs("out", exist_ok=True)\nopen("out/report.csv", "w").write("a,b\\n1,2\\n")',
      );
      const link = result.content.find((c) => c.type === 'resource_link') as { uri: string; name: string } | undefined;
      assert.equal(link?.uri, `sandbox://contexts/${encodeURIComponent(ctx)}/files/out/report.csv`);
      assert.deepEqual(
        structured<{ files_changed: { path: string }[] }>(result).files_changed.map((f) => f.path),
        ['/home/user/out/report.csv'],
      );
      const quiet = await run(client, ctx, '1 + 1');
      assert.equal(structured<{ files_changed: unknown[] }>(quiet).files_changed.length, 0, 'an unchanged file is not linked again');
    });
  });
}

describe('files in JavaScript contexts', () => {
  test('Deno code reads what write_file put in its workspace; read_file and list_files work there too', async () => {
    const client = clients.get('modern')!;
    const ctx = await newContext(client, 'javascript');
    ok(await call(client, 'write_file', { context_id: ctx, path: 'in.json', content: '{"n": 41}' }));
    const result = await run(
      client,
      ctx,
      'const n = JSON.parse(await Deno.readTextFile("in.json")).n; await Deno.writeTextFile("out.txt", String(n + 1)); n + 1',
    );
    assert.match(textOf(result), /42/);
    assert.equal(textOf(ok(await call(client, 'read_file', { context_id: ctx, path: 'out.txt' }))), '42');
    // Deno keeps its caches in the workspace (.packages/deno): hidden, as in ls.
    const listed = structured<{ files: { name: string }[] }>(ok(await call(client, 'list_files', { context_id: ctx })));
    assert.deepEqual(listed.files.map((f) => f.name).sort(), ['in.json', 'out.txt']);
  });
});

describe('hidden entries', () => {
  test('list_files leaves out names starting with "." (and all inside them) unless hidden is true, and says how many', async () => {
    const client = clients.get('modern')!;
    const ctx = await newContext(client);
    ok(
      await run(
        client,
        ctx,
        'import os\nos.makedirs(".cache/deep", exist_ok=True)\nopen(".cache/deep/x", "w").close()\nopen(".env", "w").close()\nopen("seen.txt", "w").close()',
      ),
    );
    const plain = ok(await call(client, 'list_files', { context_id: ctx }));
    assert.deepEqual(
      structured<{ files: { name: string }[] }>(plain).files.map((f) => f.name),
      ['seen.txt'],
    );
    assert.match(textOf(plain), /4 hidden entries not shown: list them with hidden: true/);
    const all = structured<{ files: { path: string }[] }>(ok(await call(client, 'list_files', { context_id: ctx, hidden: true })));
    assert.deepEqual(all.files.map((f) => f.path).sort(), [
      '/home/user/.cache',
      '/home/user/.cache/deep',
      '/home/user/.cache/deep/x',
      '/home/user/.env',
      '/home/user/seen.txt',
    ]);
    // A hidden folder named as the path is listed like any other.
    const inside = structured<{ files: { name: string }[] }>(ok(await call(client, 'list_files', { context_id: ctx, path: '.cache' })));
    assert.deepEqual(inside.files.map((f) => f.name).sort(), ['deep', 'x']);
  });
});

describe('files: refusals, each a clear error', () => {
  let client: Client;
  let ctx: string;
  before(async () => {
    client = clients.get('modern')!;
    ctx = await newContext(client);
  });

  test('paths outside the workspace', async () => {
    refused(await call(client, 'read_file', { context_id: ctx, path: '../../etc/passwd' }), 'invalid_path', /contains "\.\."/);
    refused(await call(client, 'read_file', { context_id: ctx, path: '/etc/passwd' }), 'invalid_path', /outside the workspace/);
    refused(await call(client, 'write_file', { context_id: ctx, path: '/tmp/x', content: 'x' }), 'invalid_path', /outside the workspace/);
  });

  test('symlinks planted by the code, to /etc/shadow and out of the workspace, for reading and writing', async () => {
    await run(client, ctx, 'import os\nos.symlink("/etc/shadow", "shadow")\nos.symlink("/etc", "etc")');
    refused(await call(client, 'read_file', { context_id: ctx, path: 'shadow' }), 'sandbox_http', /symbolic link/);
    refused(await call(client, 'read_file', { context_id: ctx, path: 'etc/passwd' }), 'sandbox_http', /symbolic link/);
    refused(await call(client, 'write_file', { context_id: ctx, path: 'etc/x', content: 'x' }), 'sandbox_http', /symbolic link/);
    await assert.rejects(
      client.readResource({ uri: `sandbox://contexts/${encodeURIComponent(ctx)}/files/shadow` }),
      /is a symlink, not a file/,
    );
  });

  test('a file over the limit: write refused with the limit named, read given as a link', async () => {
    const big = Buffer.alloc(MAX_FILE_BYTES + 1).toString('base64');
    refused(
      await call(client, 'write_file', { context_id: ctx, path: 'big.bin', content: big, encoding: 'base64' }),
      'file_too_large',
      /MCP_MAX_FILE_BYTES/,
    );
    await run(client, ctx, 'open("large.bin", "wb").write(b"x" * 3_000_000)');
    const read = ok(await call(client, 'read_file', { context_id: ctx, path: 'large.bin', max_bytes: 1000 }));
    assert.equal(structured<{ kind: string; size: number }>(read).kind, 'link');
    assert.equal(structured<{ size: number }>(read).size, 3_000_000);
    assert.ok(read.content.some((c) => c.type === 'resource_link'));
  });

  test('write_file from a URL: an allowed host streams in; loopback, private and metadata addresses are refused', async () => {
    const written = ok(await call(client, 'write_file', { context_id: ctx, path: 'fetched.bin', url: `${filesUrl}/data.bin` }));
    assert.equal(structured<{ size: number }>(written).size, served.length);
    assert.match(
      textOf(await run(client, ctx, 'import hashlib\nhashlib.sha256(open("fetched.bin","rb").read()).hexdigest()')),
      new RegExp(sha256(served)),
    );
    for (const url of [
      `http://localhost:${new URL(filesUrl).port}/data.bin`,
      'http://100.100.100.200/latest/meta-data/',
      'http://169.254.169.254/',
      'http://10.0.0.1/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
    ]) {
      refused(await call(client, 'write_file', { context_id: ctx, path: 'x', url }), 'fetch_failed', /MCP_FETCH_ALLOW_HOSTS/);
    }
    refused(await call(client, 'write_file', { context_id: ctx, path: 'x', url: `${filesUrl}/to-localhost` }), 'fetch_failed', /loopback/);
    refused(await call(client, 'write_file', { context_id: ctx, path: 'x', url: 'file:///etc/passwd' }), 'fetch_failed', /http or https/);
    refused(
      await call(client, 'write_file', { context_id: ctx, path: 'endless.bin', url: `${filesUrl}/endless` }),
      'file_too_large',
      /limit/,
    );
    const listed = structured<{ files: { name: string }[] }>(ok(await call(client, 'list_files', { context_id: ctx })));
    assert.ok(
      !listed.files.some((f) => f.name === 'endless.bin' || f.name.startsWith('.upload-')),
      'nothing of a refused download is left',
    );
  });

  test('write_file needs exactly one of content and url', async () => {
    refused(await call(client, 'write_file', { context_id: ctx, path: 'a' }), 'invalid_arguments', /either content or url/);
  });
});

describe('write_file from a slow server', () => {
  let slow: McpProcess;
  let client: Client;
  before(async () => {
    // Its own server, with a short deadline for the whole download, on the same sandbox.
    slow = await startMcp({ SANDBOX_URL: sandbox.url, MCP_FETCH_ALLOW_HOSTS: '127.0.0.1', MCP_FETCH_TIMEOUT_SECONDS: '8' });
    client = await connect(slow.url);
  });
  after(async () => {
    await client?.close();
    await slow?.stop();
  });

  test('a URL that trickles fails with a clear error at the deadline; list_files on the context answers meanwhile', async () => {
    const ctx = await newContext(client);
    ok(await call(client, 'write_file', { context_id: ctx, path: 'before.txt', content: 'here before' }));
    let settled = false;
    const writing = call(client, 'write_file', { context_id: ctx, path: 'trickled.txt', url: `${filesUrl}/trickle` }).finally(() => {
      settled = true;
    });
    // The download holds nothing of the sandbox's: the context's file worker serves other calls.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const listed = structured<{ files: { name: string }[] }>(ok(await call(client, 'list_files', { context_id: ctx })));
    assert.equal(settled, false, 'list_files answered while the download was still under way');
    assert.deepEqual(
      listed.files.map((f) => f.name),
      ['before.txt'],
    );
    refused(await writing, 'fetch_failed', /took longer than 8 s \(MCP_FETCH_TIMEOUT_SECONDS\)/);
    const after = structured<{ files: { name: string }[] }>(ok(await call(client, 'list_files', { context_id: ctx })));
    assert.deepEqual(
      after.files.map((f) => f.name),
      ['before.txt'],
      'nothing of the refused download is left',
    );
  });
});

describe('files: privacy', () => {
  test("context B reads none of A's files through any tool or resource; stop_context removes the workspace", async () => {
    const client = clients.get('modern')!;
    const a = await newContext(client);
    const b = await newContext(client);
    ok(await call(client, 'write_file', { context_id: a, path: 'secret.txt', content: 'for a only' }));
    refused(await call(client, 'read_file', { context_id: b, path: 'secret.txt' }), 'sandbox_file_not_found', /no such file/);
    const listed = structured<{ files: unknown[] }>(ok(await call(client, 'list_files', { context_id: b })));
    assert.deepEqual(listed.files, []);
    await assert.rejects(client.readResource({ uri: `sandbox://contexts/${encodeURIComponent(b)}/files/secret.txt` }), /no such file/);
    assert.match(textOf(await run(client, b, 'import os\nos.listdir(".")')), /\[\]/);

    const sessions = await fetch(`${sandbox.url}/sessions`).then((r) => r.json() as Promise<string[]>);
    const workspaces = await Promise.all(sessions.map((session) => sandbox.workspaceOf(session)));
    const before = workspaces.filter((w): w is string => w !== undefined && existsSync(`${w}/secret.txt`));
    assert.equal(before.length, 1, "exactly one workspace holds A's file");
    ok(await call(client, 'stop_context', { context_id: a }));
    assert.equal(existsSync(before[0]!), false, "A's workspace is gone from disk");
    ok(await call(client, 'stop_context', { context_id: b }));
  });
});
