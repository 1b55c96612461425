/**
 * yieldIfLarge between two long steps of one request: another client's request, already on a
 * kept-alive connection, is handled between them when the body is large, and not when it is
 * small. The other client is a process of its own, so that its request arrives while this one's
 * loop is busy, as another tenant's does.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { LARGE_TEXT_CHARS, yieldIfLarge } from '../../src/shared/yield-to-loop.ts';

/** What the server did, in order. */
let order: string[] = [];
let server: Server;
let port = 0;

/** Holds the loop as a long synchronous step (a parse of megabytes) does. */
const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

before(async () => {
  server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    order.push(`start ${url.pathname}`);
    if (url.pathname === '/long') {
      busy(400); // the other client's request arrives meanwhile
      order.push('first step done');
      await yieldIfLarge(Number(url.searchParams.get('length')));
      busy(20);
      order.push('second step done');
    }
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

/**
 * Two clients in another process, each on a kept-alive connection made first: one asks for the
 * long request, the other for a short one 150 ms later.
 */
async function longThenShort(length: number): Promise<string[]> {
  order = [];
  const client = spawn(
    process.execPath,
    [
      '-e',
      `const http = require('node:http');
      const agent = () => new http.Agent({ keepAlive: true, maxSockets: 1 });
      const [a, b] = [agent(), agent()];
      const get = (path, agent) => new Promise((resolve, reject) =>
        http.get({ port: ${port}, host: '127.0.0.1', path, agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject));
      Promise.all([get('/warm', a), get('/warm', b)]).then(() => {
        const long = get('/long?length=${length}', a);
        setTimeout(() => Promise.all([long, get('/short', b)]).then(() => process.exit(0)), 150);
      });`,
    ],
    { stdio: 'inherit' },
  );
  const killer = setTimeout(() => client.kill('SIGKILL'), 10_000);
  const [code] = await once(client, 'exit');
  clearTimeout(killer);
  assert.equal(code, 0, 'the client process ended on its own');
  return order.filter((step) => step !== 'start /warm');
}

test('a large request lets a request that arrived meanwhile run between its two steps', async () => {
  assert.deepEqual(await longThenShort(LARGE_TEXT_CHARS), ['start /long', 'first step done', 'start /short', 'second step done']);
});

test('a small request goes on at once: its steps stay together', async () => {
  assert.deepEqual(await longThenShort(LARGE_TEXT_CHARS - 1), ['start /long', 'first step done', 'second step done', 'start /short']);
});
