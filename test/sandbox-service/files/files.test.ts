/**
 * The sandbox service's file API (Alibaba's code-interpreter shapes), with the session
 * header, against real kernels: every endpoint, multipart upload and raw download, and
 * the escapes code could try through it (traversal, symlinks planted or swapped while a
 * read runs, hard links, oversize uploads), and that sessions keep their files apart.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, linkSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { DirectoryListing, EntryResponse, FileContent, WrittenFile } from '../../../src/protocol/sandbox-api.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

const A = { 'x-ci-session-id': 'files-a' };
const B = { 'x-ci-session-id': 'files-b' };
const UPLOAD_LIMIT_MB = 2;
let sandbox: RunningSandbox;
let url: string;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 1, maxUploadMb: UPLOAD_LIMIT_MB, maxReadMb: UPLOAD_LIMIT_MB });
  url = sandbox.url;
  // Files live in a session's workspace, which only a context's creation makes.
  await createContext(url, {}, A);
});
after(async () => {
  await sandbox?.close();
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function upload(path: string, bytes: Uint8Array, headers = A): Promise<Response> {
  const form = new FormData();
  form.append('path', path);
  form.append('file', new Blob([bytes]), 'upload.bin');
  return fetch(`${url}/filesystem/upload`, { method: 'POST', headers, body: form });
}

describe('the sandbox file API', () => {
  test('POST and GET /files: text comes back as utf-8, binary as base64, in the protocol shapes', async () => {
    const written = await request(url, 'POST', '/files', { path: 'notes/hello.txt', content: 'héllo\n' }, A);
    assert.equal(written.status, 200, written.text);
    assert.deepEqual(WrittenFile.parse(written.json), { path: '/home/user/notes/hello.txt', size: Buffer.byteLength('héllo\n') });
    const read = await request(url, 'GET', '/files?path=notes/hello.txt', undefined, A);
    const file = FileContent.parse(read.json);
    assert.equal(file.content, 'héllo\n');
    assert.equal(file.encoding, 'utf-8');
    assert.equal(file.type, 'file');
    assert.equal(file.name, 'hello.txt');

    const binary = Buffer.from([0, 1, 2, 255, 254]);
    await request(url, 'POST', '/files', { path: '/home/user/bin.dat', content: binary.toString('base64'), encoding: 'base64' }, A);
    const back = FileContent.parse((await request(url, 'GET', '/files?path=bin.dat', undefined, A)).json);
    assert.equal(back.encoding, 'base64');
    assert.deepEqual(Buffer.from(back.content, 'base64'), binary);
  });

  test('multipart upload and raw download keep every byte; code in the session reads the upload', async () => {
    const bytes = new Uint8Array(1024 * 1024).map((_, i) => (i * 7919) % 256);
    const response = await upload('data/blob.bin', bytes);
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(WrittenFile.parse(await response.json()), { path: '/home/user/data/blob.bin', size: bytes.length });
    const download = await fetch(`${url}/filesystem/download?path=data/blob.bin`, { headers: A });
    assert.equal(download.status, 200);
    assert.match(download.headers.get('content-disposition') ?? '', /attachment; filename\*=UTF-8''blob\.bin/);
    assert.equal(sha256(new Uint8Array(await download.arrayBuffer())), sha256(bytes));
    const id = await createContext(url, {}, A);
    const run = await execute(
      url,
      { code: 'import hashlib\nhashlib.sha256(open("data/blob.bin","rb").read()).hexdigest()', context_id: id },
      A,
    );
    assert.equal(run.results[0]?.text?.replaceAll("'", ''), sha256(bytes));
  });

  test('list, stat, mkdir, move and remove', async () => {
    assert.equal((await request(url, 'POST', '/filesystem/mkdir', { path: 'tree/a/b', parents: true }, A)).status, 200);
    await request(url, 'POST', '/files', { path: 'tree/a/one.txt', content: '1' }, A);
    const listing = DirectoryListing.parse((await request(url, 'GET', '/filesystem?path=tree&depth=3', undefined, A)).json);
    assert.deepEqual(
      listing.entries.map((e) => `${e.type}:${e.path}`),
      ['directory:/home/user/tree/a', 'directory:/home/user/tree/a/b', 'file:/home/user/tree/a/one.txt'],
    );
    const stat = EntryResponse.parse((await request(url, 'GET', '/filesystem/stat?path=tree/a/one.txt', undefined, A)).json);
    assert.equal(stat.entry.size, 1);
    const moved = await request(url, 'POST', '/filesystem/move', { source: 'tree/a/one.txt', destination: 'tree/two.txt' }, A);
    assert.equal(EntryResponse.parse(moved.json).entry.path, '/home/user/tree/two.txt');
    assert.equal((await request(url, 'GET', '/files?path=tree/a/one.txt', undefined, A)).status, 404);
    const removed = await request(url, 'POST', '/filesystem/remove', { path: 'tree' }, A);
    assert.equal(EntryResponse.parse(removed.json).entry.type, 'directory');
    assert.equal((await request(url, 'GET', '/filesystem/stat?path=tree', undefined, A)).status, 404);
  });

  test('a missing file is a 404 that names it', async () => {
    const missing = await request(url, 'GET', '/files?path=nothing/here.txt', undefined, A);
    assert.equal(missing.status, 404);
    assert.match(missing.text, /no such file or directory: \/home\/user\/nothing/);
  });
});

describe('the sandbox file API refuses escapes', () => {
  test('"..", absolute paths outside the workspace and NUL bytes: 400 naming the path', async () => {
    for (const path of ['../etc/passwd', 'a/../../x', '/etc/passwd', '/home/userx/a', 'a\0b']) {
      const read = await request(url, 'GET', `/files?path=${encodeURIComponent(path)}`, undefined, A);
      assert.equal(read.status, 400, `${path}: ${read.text}`);
      const write = await request(url, 'POST', '/files', { path, content: 'x' }, A);
      assert.equal(write.status, 400, `${path}: ${write.text}`);
    }
    const outside = await request(url, 'GET', '/files?path=/etc/passwd', undefined, A);
    assert.match(outside.text, /"\/etc\/passwd" is outside the workspace/);
  });

  test('symlinks the code plants are neither followed to read nor to write', async () => {
    const id = await createContext(url, {}, A);
    const plant = await execute(
      url,
      {
        code: 'import os\nos.makedirs("links", exist_ok=True)\nfor name, target in [("shadow", "/etc/shadow"), ("passwd", "/etc/passwd"), ("up", "/"), ("tmp", "/tmp")]:\n    p = "links/" + name\n    os.path.lexists(p) and os.remove(p)\n    os.symlink(target, p)',
        context_id: id,
      },
      A,
    );
    assert.equal(plant.error, undefined);
    for (const path of ['links/shadow', 'links/passwd']) {
      const read = await request(url, 'GET', `/files?path=${path}`, undefined, A);
      assert.equal(read.status, 400, read.text);
      assert.match(read.text, /symbolic link/);
      const download = await fetch(`${url}/filesystem/download?path=${path}`, { headers: A });
      assert.equal(download.status, 400);
      const write = await request(url, 'POST', '/files', { path, content: 'owned' }, A);
      assert.equal(write.status, 400, write.text);
    }
    for (const path of ['links/up/etc/passwd', 'links/tmp/x']) {
      assert.equal((await request(url, 'GET', `/files?path=${path}`, undefined, A)).status, 400);
      assert.equal((await request(url, 'POST', '/files', { path, content: 'x' }, A)).status, 400);
    }
    const listed = DirectoryListing.parse((await request(url, 'GET', '/filesystem?path=links', undefined, A)).json);
    assert.ok(listed.entries.every((entry) => entry.type === 'symlink'));
  });

  test('a symlink swapped in a loop by the code while reads run never yields what it points to', async () => {
    const id = await createContext(url, {}, A);
    await request(url, 'POST', '/files', { path: 'swap/real.txt', content: 'inside' }, A);
    // The code flips swap/target between a regular file and a link to /etc/passwd as fast as it can.
    const swapping = execute(
      url,
      {
        code: 'import os, time\nend = time.time() + 8\nwhile time.time() < end:\n    for make in ("file", "link"):\n        try: os.remove("swap/target")\n        except FileNotFoundError: pass\n        if make == "file": open("swap/target", "w").write("inside")\n        else: os.symlink("/etc/passwd", "swap/target")',
        context_id: id,
        timeout: 20,
      },
      A,
    );
    const seen = new Map<number, number>();
    for (let i = 0; i < 200; i++) {
      const read = await request(url, 'GET', '/files?path=swap/target', undefined, A);
      seen.set(read.status, (seen.get(read.status) ?? 0) + 1);
      // The regular file may be caught half-written ("" or "inside"), never as /etc/passwd.
      assert.ok(read.status !== 200 || 'inside'.startsWith(read.json.content), `read through the link: ${read.text.slice(0, 80)}`);
      assert.ok([200, 400, 404].includes(read.status), read.text);
    }
    await swapping;
    assert.ok((seen.get(400) ?? 0) > 0, `the link was met and refused: ${JSON.stringify([...seen])}`);
  });

  test('a hard link to a file the code may not read is refused', async () => {
    const id = await createContext(url, {}, A);
    await execute(url, { code: 'open("mine.txt", "w").write("m")', context_id: id }, A);
    const workspace = (await sandbox.workspaceOf('files-a'))!;
    // A server-owned secret inside the workspace's filesystem, linked under a name the code knows.
    writeFileSync(join(workspace, '.server-secret'), 'secret', { mode: 0o600 });
    linkSync(join(workspace, '.server-secret'), join(workspace, 'linked.txt'));
    const read = await request(url, 'GET', '/files?path=linked.txt', undefined, A);
    assert.equal(read.status, 403, read.text);
    assert.doesNotMatch(read.text, /secret$/);
    // A write replaces the name, never the linked file's content.
    assert.equal((await request(url, 'POST', '/files', { path: 'linked.txt', content: 'new' }, A)).status, 200);
    assert.equal((await request(url, 'GET', '/files?path=linked.txt', undefined, A)).json.content, 'new');
  });

  test('an upload over the limit is a 413 naming the limit, and leaves nothing behind', async () => {
    const big = new Uint8Array(UPLOAD_LIMIT_MB * 1024 * 1024 + 1);
    const response = await upload('too-big.bin', big);
    assert.equal(response.status, 413);
    assert.match(await response.text(), /over the limit of 2097152 bytes \(SANDBOX_MAX_UPLOAD_MB\)/);
    assert.equal((await request(url, 'GET', '/filesystem/stat?path=too-big.bin', undefined, A)).status, 404);
    const listing = DirectoryListing.parse((await request(url, 'GET', '/filesystem', undefined, A)).json);
    assert.ok(!listing.entries.some((entry) => entry.name.startsWith('.upload-')), 'no partial upload is left');
    // The sandbox still answers on the same session.
    assert.equal((await request(url, 'POST', '/files', { path: 'after.txt', content: 'ok' }, A)).status, 200);
  });

  test('an upload that never stops gets its 413, then is cut off once the lingering bound is spent', async () => {
    const { hostname, port } = new URL(url);
    const socket = tcpConnect(Number(port), hostname);
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (received += chunk));
    socket.on('error', () => {}); // the reset that ends it, once the bound is spent
    let open = true;
    void once(socket, 'close').then(() => (open = false));
    const boundary = 'endless';
    socket.write(
      `POST /filesystem/upload HTTP/1.1\r\nHost: ${hostname}:${port}\r\nx-ci-session-id: ${A['x-ci-session-id']}\r\n` +
        `Content-Type: multipart/form-data; boundary=${boundary}\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const frame = (bytes: Buffer) => Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
    socket.write(
      frame(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\nendless.bin\r\n` +
            `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="endless.bin"\r\n\r\n`,
        ),
      ),
    );
    const chunk = frame(Buffer.alloc(64 * 1024, 'x'));
    // Past the limit at once, then 64 KiB every 20 ms for as long as the sandbox reads (bounded
    // here too, so that a sandbox that reads forever fails the test instead of hanging it).
    for (let sent = 0; sent <= UPLOAD_LIMIT_MB * 1024 * 1024; sent += 64 * 1024) socket.write(chunk);
    const giveUp = Date.now() + 60_000;
    while (open && Date.now() < giveUp) {
      socket.write(chunk);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    socket.destroy();
    assert.equal(open, false, `the sandbox still read the endless upload after 60 s; it had answered: ${received.slice(0, 200)}`);
    assert.match(received, /^HTTP\/1\.1 413 /);
    assert.match(received, /connection: close/i);
    assert.match(received, /over the limit of 2097152 bytes \(SANDBOX_MAX_UPLOAD_MB\)/);
    assert.equal((await request(url, 'GET', '/filesystem/stat?path=endless.bin', undefined, A)).status, 404, 'nothing of it is kept');
  });

  test('a multipart body on any other route is refused (415)', async () => {
    const form = new FormData();
    form.append('path', 'x');
    const response = await fetch(`${url}/files`, { method: 'POST', headers: A, body: form });
    assert.equal(response.status, 415);
  });
});

describe('sessions keep their files apart', () => {
  test("session B sees none of A's files; deleting a session's last context removes its workspace", async () => {
    await request(url, 'POST', '/files', { path: 'private.txt', content: 'a only' }, A);
    assert.equal((await request(url, 'GET', '/files?path=private.txt', undefined, B)).status, 404);
    const idB = await createContext(url, {}, B);
    const peek = await execute(url, { code: 'import os\nsorted(os.listdir("."))', context_id: idB }, B);
    assert.equal(peek.results[0]?.text, '[]');
    const missing = await request(url, 'GET', '/files?path=private.txt', undefined, B);
    assert.equal(missing.status, 404);
    assert.match(missing.text, /no such file/, "with a context of its own, B still finds no file of A's");
    const workspaceB = (await sandbox.workspaceOf('files-b'))!;
    assert.ok(existsSync(workspaceB));
    assert.equal((await request(url, 'DELETE', `/contexts/${idB}`, undefined, B)).status, 200);
    assert.equal(existsSync(workspaceB), false, 'the workspace is gone from disk');
    assert.equal(await sandbox.workspaceOf('files-b'), undefined);
  });

  test('GET /sessions lists the sessions that hold contexts', async () => {
    const sessions = (await request(url, 'GET', '/sessions', undefined)).json as string[];
    assert.ok(sessions.includes('files-a'));
    assert.ok(!sessions.includes('files-b'));
  });
});
