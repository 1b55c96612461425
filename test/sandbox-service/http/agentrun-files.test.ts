/**
 * The sandbox's file API against requests shaped exactly as AgentRun's Node SDK sends them
 * (Serverless-Devs/agentrun-sdk-nodejs, src/sandbox/api/code-interpreter-data.ts; the SDK is not
 * on npm, so these are raw fetch/FormData requests with its headers, fields and defaults):
 * JSON bodies with `Content-Type: application/json` on every request (GETs too), an
 * `Agentrun-Access-Token` header, and a multipart upload whose `file` part comes FIRST, then
 * `path`. Such an upload is spooled in the workspace and renamed once its path arrives: the
 * tests check that no spool is ever left behind, whatever goes wrong.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { DirectoryListing } from '../../../src/protocol/sandbox-api.ts';
import { createContext, execute } from '../../support/sandbox-support.ts';

const SESSION = { 'x-ci-session-id': 'agentrun-files' };
const UPLOAD_LIMIT_MB = 1;
let sandbox: RunningSandbox;
let url: string;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 1, maxUploadMb: UPLOAD_LIMIT_MB });
  url = sandbox.url;
  // No context first: as on AgentRun's sandboxes, files go in before any context exists.
});
after(async () => {
  await sandbox?.close();
});

/** The headers AgentRun's SandboxDataAPI.prepareHeaders sends with every request. */
function sdkHeaders(): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    'User-Agent': 'AgentRunDataClient-Node/1.0',
    'Agentrun-Access-Token': '',
    ...SESSION,
  };
}

async function sdk(method: string, path: string, query?: Record<string, string | number>, data?: unknown) {
  const target = new URL(path, url);
  for (const [key, value] of Object.entries(query ?? {})) target.searchParams.append(key, String(value));
  const response = await fetch(target, { method, headers: sdkHeaders(), body: data ? JSON.stringify(data) : undefined });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined; // refusals are plain text
  }
  return { status: response.status, text, json };
}

/** postFile: `file` appended first, then every other field (`path`); no Content-Type (fetch sets the boundary). */
async function sdkUpload(bytes: Uint8Array, targetFilePath: string | undefined, filename = 'local.bin') {
  const headers = sdkHeaders();
  delete headers['Content-Type'];
  const form = new FormData();
  form.append('file', new Blob([bytes]), filename);
  if (targetFilePath !== undefined) form.append('path', String(targetFilePath));
  const response = await fetch(`${url}/filesystem/upload`, { method: 'POST', headers, body: form });
  return { status: response.status, text: await response.text() };
}

async function spoolsLeft(): Promise<string[]> {
  const listing = DirectoryListing.parse((await sdk('GET', '/filesystem', { path: '/home/user', depth: 1 })).json);
  return listing.entries.filter((entry) => entry.name.startsWith('.upload-')).map((entry) => entry.name);
}

describe("AgentRun's Node SDK request shapes against the sandbox's file API", () => {
  test('uploadFile (file part first, then path) lands every byte at its path, in a new directory', async () => {
    const bytes = new Uint8Array(300 * 1024).map((_, i) => (i * 31) % 256);
    const uploaded = await sdkUpload(bytes, '/home/user/in/deep/data.bin');
    assert.equal(uploaded.status, 200, uploaded.text);
    assert.deepEqual(JSON.parse(uploaded.text), { path: '/home/user/in/deep/data.bin', size: bytes.length });

    const download = await fetch(`${url}/filesystem/download?path=${encodeURIComponent('/home/user/in/deep/data.bin')}`, {
      headers: sdkHeaders(),
    });
    assert.equal(download.status, 200);
    assert.deepEqual(new Uint8Array(await download.arrayBuffer()), bytes);
    assert.deepEqual(await spoolsLeft(), []);

    // The code in the session sees the upload where the SDK put it.
    const contextId = await createContext(url, { language: 'python', cwd: '/home/user' }, SESSION);
    const run = await execute(url, { code: 'len(open("in/deep/data.bin", "rb").read())', context_id: contextId }, SESSION);
    assert.equal(run.results[0]?.text, String(bytes.length));
  });

  test('uploadFile over an existing file replaces it', async () => {
    assert.equal((await sdkUpload(new TextEncoder().encode('first'), 'again.txt')).status, 200);
    assert.equal((await sdkUpload(new TextEncoder().encode('second'), 'again.txt')).status, 200);
    assert.equal((await sdk('GET', '/files', { path: 'again.txt' })).json.content, 'second');
  });

  test('a leading file part whose path is missing, outside the workspace, or a directory: precise 4xx, no spool left', async () => {
    const bytes = new TextEncoder().encode('payload');
    const missing = await sdkUpload(bytes, undefined);
    assert.equal(missing.status, 400);
    assert.match(missing.text, /no "path" field/);

    const outside = await sdkUpload(bytes, '../../etc/passwd');
    assert.equal(outside.status, 400);
    assert.match(outside.text, /\.\./);

    assert.equal((await sdk('POST', '/filesystem/mkdir', undefined, { path: 'a-dir', parents: true, mode: '0755' })).status, 200);
    const onDirectory = await sdkUpload(bytes, 'a-dir');
    assert.equal(onDirectory.status, 409, onDirectory.text);
    assert.match(onDirectory.text, /a-dir is a directory/);

    assert.deepEqual(await spoolsLeft(), []);
  });

  test('a leading file part over the upload limit is a 413 and leaves nothing behind', async () => {
    const big = new Uint8Array(UPLOAD_LIMIT_MB * 1024 * 1024 + 1);
    const response = await sdkUpload(big, 'big.bin');
    assert.equal(response.status, 413);
    assert.match(response.text, /SANDBOX_MAX_UPLOAD_MB/);
    assert.equal((await sdk('GET', '/filesystem/stat', { path: 'big.bin' })).status, 404);
    assert.deepEqual(await spoolsLeft(), []);
    // The session's file worker still serves the next request.
    assert.equal((await sdkUpload(new Uint8Array([1, 2, 3]), 'small.bin')).status, 200);
  });

  test("writeFile/readFile with the SDK's defaults (mode '644', encoding 'utf-8', createDir true)", async () => {
    const written = await sdk('POST', '/files', undefined, {
      path: '/home/user/notes/today.md',
      content: '# héllo\n',
      mode: '644',
      encoding: 'utf-8',
      createDir: true,
    });
    assert.equal(written.status, 200, written.text);
    const read = await sdk('GET', '/files', { path: '/home/user/notes/today.md' });
    assert.equal(read.status, 200, read.text);
    assert.equal(read.json.content, '# héllo\n');
    assert.equal(read.json.encoding, 'utf-8');
    assert.equal(read.json.mode, '0644');
  });

  test("mkdir {parents: true, mode: '0755'}, stat, listDirectory with depth, moveFile {source, destination}, removeFile", async () => {
    const made = await sdk('POST', '/filesystem/mkdir', undefined, { path: '/home/user/p/q/r', parents: true, mode: '0755' });
    assert.equal(made.status, 200, made.text);
    assert.equal(made.json.entry.type, 'directory');
    assert.equal(made.json.entry.mode, '0755');

    await sdk('POST', '/files', undefined, { path: 'p/q/r/f.txt', content: 'x', mode: '644', encoding: 'utf-8', createDir: true });
    const stat = await sdk('GET', '/filesystem/stat', { path: '/home/user/p/q/r/f.txt' });
    assert.equal(stat.status, 200, stat.text);
    assert.equal(stat.json.entry.size, 1);

    const listing = await sdk('GET', '/filesystem', { path: '/home/user/p', depth: 3 });
    assert.equal(listing.status, 200, listing.text);
    const paths = DirectoryListing.parse(listing.json).entries.map((entry) => entry.path);
    assert.ok(paths.includes('/home/user/p/q/r/f.txt'), paths.join(', '));

    const moved = await sdk('POST', '/filesystem/move', undefined, { source: '/home/user/p/q/r/f.txt', destination: '/home/user/p/g.txt' });
    assert.equal(moved.status, 200, moved.text);
    assert.equal(moved.json.entry.path, '/home/user/p/g.txt');

    const removed = await sdk('POST', '/filesystem/remove', undefined, { path: '/home/user/p' });
    assert.equal(removed.status, 200, removed.text);
    assert.equal((await sdk('GET', '/filesystem/stat', { path: '/home/user/p' })).status, 404);
  });
});
