/**
 * What code in a context can and cannot reach: its session's workspace and a
 * private /tmp, nothing else of the host, none of the server's environment, no
 * network, and nothing of other sessions.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

const SECRET_NAME = 'SANDBOX_TEST_SERVER_SECRET';
const SECRET_VALUE = `s3cr3t-${process.pid}`;

let sandbox: RunningSandbox;
let url: string;
let plantedDir: string;
let plantedFile: string;

const A = { 'x-ci-session-id': 'session-a' };
const B = { 'x-ci-session-id': 'session-b' };

before(async () => {
  process.env[SECRET_NAME] = SECRET_VALUE;
  plantedDir = await mkdtemp(join(tmpdir(), 'planted-'));
  plantedFile = join(plantedDir, 'secret.txt');
  await writeFile(plantedFile, 'planted secret');
  sandbox = await startSandbox({ port: 0, poolSize: 1 });
  url = sandbox.url;
});
after(async () => {
  await sandbox.close();
  delete process.env[SECRET_NAME];
  await rm(plantedDir, { recursive: true, force: true });
});

describe('sandbox isolation', () => {
  test('a file planted on the host outside the workspace cannot be read', async () => {
    const run = await execute(url, { code: `open(${JSON.stringify(plantedFile)}).read()` }, A);
    assert.equal(run.error?.name, 'FileNotFoundError');
    const listing = await execute(url, { code: `import os\nsorted(os.listdir("/"))` }, A);
    assert.doesNotMatch(listing.results[0]!.text!, /'(root|work|srv|opt|var)'/);
    const cwdOfServer = await execute(url, { code: `import os\nos.path.exists(${JSON.stringify(process.cwd())})` }, A);
    assert.equal(cwdOfServer.results[0]?.text, 'False');
    const shadow = await execute(url, { code: 'open("/etc/shadow").read()' }, A);
    assert.equal(shadow.error?.name, 'FileNotFoundError');
  });

  test('code runs as an unprivileged user without capabilities', async () => {
    const run = await execute(
      url,
      {
        code: 'import os\nstatus = open("/proc/self/status").read()\nprint(os.getuid(), [l.split()[1] for l in status.splitlines() if l.startswith("CapEff")][0])',
      },
      A,
    );
    assert.equal(run.stdout, '1000 0000000000000000\n', run.error?.traceback);
  });

  test('the host /tmp is not the sandbox /tmp', async () => {
    const run = await execute(url, { code: `import os\nos.path.exists(${JSON.stringify(plantedDir)})` }, A);
    assert.equal(run.results[0]?.text, 'False');
  });

  test('the system is read-only; the workspace and /tmp are writable', async () => {
    for (const path of ['/usr/evil', '/evil', '/home/evil', '/etc/evil']) {
      const system = await execute(url, { code: `open(${JSON.stringify(path)}, "w")` }, A);
      assert.equal(system.error?.name, 'OSError', path);
      assert.match(system.error!.value, /Read-only file system/, path);
    }
    const writes = await execute(
      url,
      { code: 'open("/home/user/ok.txt", "w").write("1")\nopen("/tmp/ok.txt", "w").write("2")\nprint("written")' },
      A,
    );
    assert.equal(writes.stdout, 'written\n', writes.error?.traceback);
  });

  test("a variable of the server's environment is not visible to code", async () => {
    const run = await execute(
      url,
      {
        code:
          'import os, glob\n' +
          `found = [k for k, v in os.environ.items() if ${JSON.stringify(SECRET_VALUE)} in v or k == ${JSON.stringify(SECRET_NAME)}]\n` +
          'for path in glob.glob("/proc/*/environ"):\n' +
          '    try:\n' +
          `        found += [path] if ${JSON.stringify(SECRET_VALUE)}.encode() in open(path, "rb").read() else []\n` +
          '    except OSError:\n' +
          '        pass\n' +
          'print(found, sorted(os.environ))',
      },
      A,
    );
    assert.equal(run.error, undefined, run.error?.traceback);
    assert.match(run.stdout, /^\[\] /);
    assert.doesNotMatch(run.stdout, /SANDBOX_|NODE|npm_/);
  });

  test('there is no network by default, not even to the host loopback', async () => {
    const port = new URL(url).port;
    const run = await execute(
      url,
      {
        code:
          'import socket\n' +
          'results = []\n' +
          `for host, port in [("127.0.0.1", ${port}), ("1.1.1.1", 80)]:\n` +
          '    try:\n' +
          '        socket.create_connection((host, port), timeout=3).close()\n' +
          '        results.append("connected")\n' +
          '    except OSError as error:\n' +
          '        results.append(type(error).__name__)\n' +
          'import os\n' +
          'print(results, sorted(os.listdir("/sys/class/net")) if os.path.exists("/sys/class/net") else "no-sys")',
      },
      A,
    );
    assert.equal(run.error, undefined, run.error?.traceback);
    assert.doesNotMatch(run.stdout, /connected/);
  });

  test("contexts of a session share its workspace; another session's workspace is invisible", async () => {
    const a1 = await createContext(url, {}, A);
    const a2 = await createContext(url, {}, A);
    const b1 = await createContext(url, {}, B);
    await execute(url, { code: 'open("shared.txt", "w").write("from a1")', context_id: a1 }, A);
    const sameSession = await execute(url, { code: 'open("shared.txt").read()', context_id: a2 }, A);
    assert.equal(sameSession.results[0]?.text, 'from a1');
    const otherSession = await execute(
      url,
      { code: 'import os\nprint(os.path.exists("/home/user/shared.txt"), os.listdir("/home"))', context_id: b1 },
      B,
    );
    assert.equal(otherSession.stdout, "False ['user']\n");
  });

  test('a context id of one session is unknown in another', async () => {
    const a = await createContext(url, {}, A);
    assert.equal((await execute(url, { code: '1', context_id: a }, B)).status, 404);
    assert.equal((await request(url, 'DELETE', `/contexts/${a}`, undefined, B)).status, 404);
    const listedInB = await request(url, 'GET', '/contexts', undefined, B);
    assert.ok(!listedInB.json.some((context: { id: string }) => context.id === a));
    const listedInDefault = await request(url, 'GET', '/contexts');
    assert.ok(!listedInDefault.json.some((context: { id: string }) => context.id === a));
    assert.equal((await execute(url, { code: '1', context_id: a }, A)).results[0]?.text, '1');
  });

  test('a session header that is not a safe name is refused', async () => {
    for (const value of ['../etc', 'a/b', '.hidden', 'x'.repeat(200)]) {
      const response = await request(url, 'POST', '/contexts', {}, { 'x-ci-session-id': value });
      assert.equal(response.status, 400, value);
      assert.match(response.text, /invalid x-ci-session-id header/);
    }
  });
});

describe('sandbox isolation with SANDBOX_ALLOW_NETWORK', () => {
  // Egress goes through slirp4netns (docs/security.md): the host's own address is reachable, its loopback is not.
  test('allowNetwork gives kernels egress (not the host loopback), and nothing else changes', async (t) => {
    const hostAddress = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;
    if (!hostAddress) return t.skip('the host has no address but loopback');
    const hostServer = createServer((_request, response) => response.end('reached the host'));
    await new Promise<void>((resolve) => hostServer.listen(0, '0.0.0.0', resolve));
    const port = (hostServer.address() as AddressInfo).port;
    const open = await startSandbox({ port: 0, poolSize: 0, allowNetwork: true });
    try {
      const run = await execute(open.url, {
        code:
          'import urllib.request, os\n' +
          `print(urllib.request.urlopen("http://${hostAddress}:${port}/", timeout=5).read().decode())\n` +
          'try:\n' +
          `    urllib.request.urlopen("http://127.0.0.1:${port}/", timeout=5); print("loopback reached")\n` +
          'except OSError:\n' +
          '    print("no loopback")\n' +
          `print(os.environ.get(${JSON.stringify(SECRET_NAME)}), os.path.exists(${JSON.stringify(plantedFile)}))`,
      });
      assert.equal(run.error, undefined, run.error?.traceback);
      assert.equal(run.stdout, 'reached the host\nno loopback\nNone False\n');
    } finally {
      await open.close();
      // Its kept-alive connections too: an open one would hold this file's process past its tests.
      hostServer.closeAllConnections();
      hostServer.close();
    }
  });
});
