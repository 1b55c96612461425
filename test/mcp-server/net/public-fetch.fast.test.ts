/**
 * write_file's URL fetch: what an agent may make the MCP function fetch.
 * The escape attempts first: loopback, private, link-local and metadata addresses,
 * by literal, by name and by redirect, each refused before a connection is made;
 * then what an operator's allow-list opens, and the limits. Real HTTP servers on
 * 127.0.0.1; "no connection" is observed on node's net.client.socket channel and on
 * the servers' own connection counts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReadableStream } from 'node:stream/web';
import { after, before, describe, test } from 'node:test';
import { fetchPublicUrl, parseAllowHosts, PublicFetchError, type PublicFetchReason } from '../../../src/mcp-server/net/public-fetch.ts';

interface TestServer {
  origin: string;
  port: number;
  connections: number;
  requests: string[];
  close(): Promise<void>;
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse, server: TestServer) => void): Promise<TestServer> {
  const server: Server = createServer((req, res) => {
    state.requests.push(req.url ?? '');
    handler(req, res, state);
  });
  const state: TestServer = {
    origin: '',
    port: 0,
    connections: 0,
    requests: [],
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', () => state.connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.port = (server.address() as AddressInfo).port;
  state.origin = `http://127.0.0.1:${state.port}`;
  return state;
}

/** How many client sockets node opened while `work` ran. */
async function socketsOpenedBy(work: () => Promise<unknown>): Promise<number> {
  let sockets = 0;
  const count = () => sockets++;
  subscribe('net.client.socket', count);
  try {
    await work();
  } finally {
    unsubscribe('net.client.socket', count);
  }
  return sockets;
}

async function refusal(promise: Promise<unknown>, kind: PublicFetchReason): Promise<PublicFetchError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PublicFetchError, `expected a PublicFetchError, got ${error}`);
    assert.equal(error.reason, kind, error.message);
    assert.equal(error.kind, kind === 'too_large' ? 'file_too_large' : 'fetch_failed', 'the kind write_file fails with');
    return error;
  }
  assert.fail(`expected a ${kind} refusal`);
}

const readAll = async (body: ReadableStream<Uint8Array>) => Buffer.from(await new Response(body).arrayBuffer());

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const cap = { maxBytes: 4 << 20 };

describe('URLs that are not http(s)', () => {
  for (const url of ['ftp://files.example.com/a.csv', 'file:///etc/passwd', 'data:text/plain,hello', 'gopher://example.com/']) {
    test(`${url.split(':')[0]}: is refused naming the scheme`, async () => {
      const error = await refusal(fetchPublicUrl(url, cap), 'bad_url');
      assert.match(error.message, new RegExp(`${url.split(':')[0]}:`));
      assert.match(error.message, /give an http or https URL/);
    });
  }

  test('a URL with a user name or password is refused', async () => {
    const error = await refusal(fetchPublicUrl('https://user:secret@example.com/x', cap), 'bad_url');
    assert.match(error.message, /example\.com/);
    assert.doesNotMatch(error.message, /secret/);
  });

  test('text that is no URL is refused', async () => {
    await refusal(fetchPublicUrl('not a url', cap), 'bad_url');
  });
});

describe('addresses only the function can reach', () => {
  const literals: [string, RegExp][] = [
    ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address/],
    ['http://100.100.100.200/latest/meta-data/', /100\.100\.100\.200 is a carrier-grade NAT address.*Alibaba Cloud's metadata service/],
    ['http://168.63.129.16/machine?comp=goalstate', /168\.63\.129\.16 is the platform endpoint of Azure/],
    ['http://[::ffff:168.63.129.16]/', /IPv6 form of the platform endpoint of Azure.*168\.63\.129\.16/],
    ['http://10.1.2.3/data.csv', /10\.1\.2\.3 is a private address/],
    ['http://172.16.0.9/', /private address/],
    ['http://192.168.1.1/', /private address/],
    ['http://[::1]:9/', /::1 is the loopback address/],
    ['http://[::ffff:127.0.0.1]:9/', /::ffff:7f00:1 is an IPv6 form of a loopback address.*127\.0\.0\.1/],
    ['http://[::ffff:169.254.169.254]/', /link-local/],
    ['http://[64:ff9b::a9fe:a9fe]/', /IPv6 form of a link-local address.*169\.254\.169\.254/],
    ['http://[fd00::1]/', /private address \(fc00::\/7\)/],
    ['http://[fe80::1]/', /link-local/],
    ['http://0/', /0\.0\.0\.0 is an unspecified address/],
    ['http://2130706433:9/', /127\.0\.0\.1 is a loopback address/],
    ['http://0x7f.1:9/', /127\.0\.0\.1 is a loopback address/],
    ['http://224.0.0.1/', /multicast/],
    ['http://255.255.255.255/', /broadcast/],
    ['http://240.0.0.1/', /reserved/],
  ];
  for (const [url, message] of literals) {
    test(`${url} is refused without a connection attempt`, async () => {
      let error: PublicFetchError | undefined;
      const sockets = await socketsOpenedBy(async () => {
        error = await refusal(fetchPublicUrl(url, cap), 'forbidden_address');
      });
      assert.equal(sockets, 0);
      assert.match(error!.message, message);
      assert.match(error!.message, /MCP_FETCH_ALLOW_HOSTS=/);
    });
  }

  let server: TestServer;
  before(async () => {
    server = await serve((_req, res) => res.end('secret'));
  });
  after(() => server.close());

  test('a loopback server is refused and never sees a connection', async () => {
    const error = await refusal(fetchPublicUrl(`${server.origin}/`, cap), 'forbidden_address');
    assert.match(error.message, /127\.0\.0\.1 is a loopback address/);
    assert.match(error.message, /MCP_FETCH_ALLOW_HOSTS=127\.0\.0\.1/);
    assert.equal(server.connections, 0);
  });

  test('localhost is refused after DNS: it resolves to loopback', async () => {
    const error = await refusal(fetchPublicUrl(`http://localhost:${server.port}/`, cap), 'forbidden_address');
    assert.match(error.message, /localhost resolves to (127\.0\.0\.1|::1), .*loopback/);
    assert.match(error.message, /MCP_FETCH_ALLOW_HOSTS=localhost/);
    assert.equal(server.connections, 0);
  });

  test('https goes through the same check', async () => {
    const error = await refusal(fetchPublicUrl(`https://localhost:${server.port}/`, cap), 'forbidden_address');
    assert.match(error.message, /localhost resolves to .*loopback/);
    await refusal(fetchPublicUrl(`https://127.0.0.1:${server.port}/`, cap), 'forbidden_address');
    assert.equal(server.connections, 0);
  });

  test('DNS rebinding gains nothing: the socket connects to the address that was checked', async () => {
    // A name that answers public first and loopback after: a fetch that checked one
    // answer and then let the socket resolve again would land on the loopback server.
    const answers: string[] = [];
    const resolve = async () => {
      const address = answers.length === 0 ? '192.88.98.1' : '127.0.0.1';
      answers.push(address);
      return [{ address, family: 4 }];
    };
    const outcome = await fetchPublicUrl(`http://rebind.example.com:${server.port}/`, { ...cap, resolve, timeoutMs: 1500 }).then(
      () => 'fetched',
      (error: PublicFetchError) => error.reason,
    );
    assert.deepEqual(answers, ['192.88.98.1']);
    assert.equal(server.connections, 0);
    // The public address is unreachable from here (or silent): either way, not the loopback server.
    assert.ok(outcome === 'network' || outcome === 'timeout', outcome);
  });

  test('a name is refused if any of its addresses is not public, and no socket opens', async () => {
    const resolved: string[] = [];
    const resolve = async (hostname: string) => {
      resolved.push(hostname);
      return [
        { address: '93.184.215.14', family: 4 },
        { address: '::ffff:10.0.0.7', family: 6 },
      ];
    };
    let error: PublicFetchError | undefined;
    const sockets = await socketsOpenedBy(async () => {
      error = await refusal(fetchPublicUrl('https://mixed.example.com/x', { ...cap, resolve }), 'forbidden_address');
    });
    assert.deepEqual(resolved, ['mixed.example.com']);
    assert.match(error!.message, /mixed\.example\.com resolves to ::ffff:10\.0\.0\.7, an IPv6 form of a private address/);
    // The socket object exists before its lookup runs; what matters is that it connected nowhere.
    assert.ok(sockets <= 1);
  });

  test('a name that does not resolve is a network error naming it', async () => {
    const resolve = async () => {
      throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' });
    };
    const error = await refusal(fetchPublicUrl('https://nowhere.example.com/', { ...cap, resolve }), 'network');
    assert.match(error.message, /nowhere\.example\.com was not found/);
  });
});

describe('an allowed host', () => {
  const file = randomBytes(1 << 20);
  let server: TestServer;
  before(async () => {
    server = await serve((req, res, self) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const hops = Number(url.searchParams.get('hops') ?? 0);
      if (url.pathname === '/file.bin') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.length });
        res.end(file);
      } else if (url.pathname === '/chain') {
        if (hops > 0) res.writeHead(302, { location: `/chain?hops=${hops - 1}` }).end();
        else res.end('end of chain');
      } else if (url.pathname === '/to-localhost') {
        res.writeHead(301, { location: `http://localhost:${self.port}/file.bin` }).end();
      } else if (url.pathname === '/to-metadata') {
        res.writeHead(307, { location: 'http://100.100.100.200/latest/meta-data/' }).end();
      } else if (url.pathname === '/to-ftp') {
        res.writeHead(303, { location: 'ftp://127.0.0.1/x' }).end();
      } else if (url.pathname === '/declared-too-big') {
        res.writeHead(200, { 'content-length': 5000 });
        res.end(Buffer.alloc(5000));
      } else if (url.pathname === '/chunked-too-big') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        let sent = 0;
        const more = () => {
          // Stops after 64 KiB; the client should have given up at 1000 bytes.
          while (sent < 64 * 1024 && res.write(Buffer.alloc(512, 97))) sent += 512;
          if (sent >= 64 * 1024) res.end();
          else res.once('drain', more);
        };
        more();
      } else if (url.pathname === '/stall') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('the first part, then nothing');
      } else if (url.pathname === '/trickle') {
        // A byte every 400 ms, for as long as the client stays.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('x'), 400);
        res.on('close', () => clearInterval(timer));
      } else if (url.pathname === '/silent') {
        // Never answers; the client's timeout must.
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such file');
      }
    });
  });
  after(() => server.close());
  const allowed = { ...cap, allowHosts: ['127.0.0.1'] };

  test('serves the body byte for byte', async () => {
    const fetched = await fetchPublicUrl(`${server.origin}/file.bin`, allowed);
    assert.equal(fetched.url, `${server.origin}/file.bin`);
    assert.equal(fetched.contentType, 'application/octet-stream');
    assert.equal(fetched.contentLength, file.length);
    assert.equal(sha256(await readAll(fetched.body)), sha256(file));
  });

  test('the allow-list is case-insensitive and takes names', async () => {
    const fetched = await fetchPublicUrl(`http://localhost:${server.port}/chain`, { ...cap, allowHosts: ['LocalHost'] });
    assert.equal((await readAll(fetched.body)).toString(), 'end of chain');
  });

  test('redirects are followed, up to the limit', async () => {
    const fetched = await fetchPublicUrl(`${server.origin}/chain?hops=5`, allowed);
    assert.equal(fetched.url, `${server.origin}/chain?hops=0`);
    assert.equal((await readAll(fetched.body)).toString(), 'end of chain');
    const error = await refusal(fetchPublicUrl(`${server.origin}/chain?hops=6`, allowed), 'redirects');
    assert.match(error.message, /127\.0\.0\.1 .*after 5 redirects; give the final URL/);
    await refusal(fetchPublicUrl(`${server.origin}/chain?hops=2`, { ...allowed, maxRedirects: 1 }), 'redirects');
  });

  test('a redirect to a host that is not allowed is checked like any URL and refused', async () => {
    const before = server.requests.length;
    const error = await refusal(fetchPublicUrl(`${server.origin}/to-localhost`, allowed), 'forbidden_address');
    assert.match(error.message, /localhost \(reached by a redirect from 127\.0\.0\.1\) resolves to .*loopback/);
    assert.deepEqual(server.requests.slice(before), ['/to-localhost']);

    const metadata = await refusal(fetchPublicUrl(`${server.origin}/to-metadata`, allowed), 'forbidden_address');
    assert.match(metadata.message, /100\.100\.100\.200 \(reached by a redirect from 127\.0\.0\.1\) is a carrier-grade NAT address/);

    const ftp = await refusal(fetchPublicUrl(`${server.origin}/to-ftp`, allowed), 'bad_url');
    assert.match(ftp.message, /a redirect from 127\.0\.0\.1.*scheme ftp:, which cannot be fetched/);
  });

  test('a Content-Length over the cap is refused before the body is read', async () => {
    const error = await refusal(fetchPublicUrl(`${server.origin}/declared-too-big`, { ...allowed, maxBytes: 1000 }), 'too_large');
    assert.match(error.message, /127\.0\.0\.1 is 5000 bytes, over the limit of 1000 bytes/);
  });

  test('a chunked body that grows past the cap errors the stream', async () => {
    const fetched = await fetchPublicUrl(`${server.origin}/chunked-too-big`, { ...allowed, maxBytes: 1000 });
    assert.equal(fetched.contentLength, undefined);
    let received = 0;
    await assert.rejects(
      (async () => {
        for await (const chunk of fetched.body) received += chunk.length;
      })(),
      (error: unknown) => error instanceof PublicFetchError && error.reason === 'too_large' && /more than 1000 bytes/.test(error.message),
    );
    assert.ok(received <= 1000, `${received} bytes passed the cap`);
  });

  test('a 404 is an http error with the status', async () => {
    const error = await refusal(fetchPublicUrl(`${server.origin}/missing.csv`, allowed), 'http');
    assert.equal(error.httpStatus, 404);
    assert.equal(error.status, undefined, "the URL's status is no answer of the sandbox's");
    assert.match(error.message, /127\.0\.0\.1 answered HTTP 404 Not Found for \/missing\.csv; check the URL/);
  });

  test('a server that never answers times out', async () => {
    const error = await refusal(fetchPublicUrl(`${server.origin}/silent`, { ...allowed, timeoutMs: 300 }), 'timeout');
    assert.match(error.message, /127\.0\.0\.1 did not answer within 0\.3 s/);
  });

  test('aborting the signal rejects with its reason', async () => {
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const pending = fetchPublicUrl(`${server.origin}/silent`, { ...allowed, signal: controller.signal });
    controller.abort(reason);
    await assert.rejects(pending, (error) => error === reason);
  });

  test('aborting the signal while the body streams errors the stream with its reason', async () => {
    const controller = new AbortController();
    const fetched = await fetchPublicUrl(`${server.origin}/stall`, { ...allowed, signal: controller.signal });
    const reader = fetched.body.getReader();
    assert.equal(Buffer.from((await reader.read()).value!).toString(), 'the first part, then nothing');
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await assert.rejects(reader.read(), (error) => error === reason);
  });

  test('a server that stops sending mid-body times out', async () => {
    const fetched = await fetchPublicUrl(`${server.origin}/stall`, { ...allowed, timeoutMs: 300 });
    await assert.rejects(
      readAll(fetched.body),
      (error: unknown) =>
        error instanceof PublicFetchError && error.reason === 'timeout' && /127\.0\.0\.1 sent no data within 0\.3 s/.test(error.message),
    );
  });

  test('a body that trickles in fails at the deadline of the whole fetch, naming the variable', async () => {
    const fetched = await fetchPublicUrl(`${server.origin}/trickle`, { ...allowed, deadlineMs: 1500, minBytesPerSecond: 0 });
    await assert.rejects(
      readAll(fetched.body),
      (error: unknown) =>
        error instanceof PublicFetchError &&
        error.reason === 'timeout' &&
        /fetching from 127\.0\.0\.1 took longer than 1\.5 s \(MCP_FETCH_TIMEOUT_SECONDS\)/.test(error.message),
    );
  });

  test('the deadline holds before the headers too', async () => {
    const error = await refusal(fetchPublicUrl(`${server.origin}/silent`, { ...allowed, deadlineMs: 500 }), 'timeout');
    assert.match(error.message, /took longer than 0\.5 s \(MCP_FETCH_TIMEOUT_SECONDS\)/);
  });

  test('a body that trickles in below the minimum rate fails once the grace is over, naming the variable', async () => {
    const fetched = await fetchPublicUrl(`${server.origin}/trickle`, { ...allowed, minBytesPerSecond: 1024 });
    await assert.rejects(
      readAll(fetched.body),
      (error: unknown) =>
        error instanceof PublicFetchError &&
        error.reason === 'too_slow' &&
        /127\.0\.0\.1 sent \d+ bytes in \d+ s, slower than the minimum of 1024 bytes a second \(MCP_FETCH_MIN_BYTES_PER_SECOND\)/.test(
          error.message,
        ),
    );
  });

  test('a slow reader is not a silent server', async () => {
    const fetched = await fetchPublicUrl(`${server.origin}/file.bin`, { ...allowed, timeoutMs: 1000 });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(sha256(await readAll(fetched.body)), sha256(file));
  });

  test('a refused connection is a network error naming the host', async () => {
    const closed = await serve(() => {});
    await closed.close();
    const error = await refusal(fetchPublicUrl(`${closed.origin}/`, allowed), 'network');
    assert.match(error.message, /could not fetch from 127\.0\.0\.1 \(ECONNREFUSED\)/);
  });
});

describe('parseAllowHosts', () => {
  test('reads a comma-separated list into canonical host names', () => {
    assert.deepEqual(parseAllowHosts(' Data.Example.com, 10.0.0.5 ,[FD00::5],,fd00::5 '), ['data.example.com', '10.0.0.5', 'fd00::5']);
    assert.deepEqual(parseAllowHosts('files.example.com.,127.0.0.1'), ['files.example.com', '127.0.0.1']);
    assert.deepEqual(parseAllowHosts(undefined), []);
    assert.deepEqual(parseAllowHosts(''), []);
  });

  test('refuses an entry that is no host, naming it and the variable', () => {
    for (const entry of ['https://data.example.com', 'data.example.com:443', 'data.example.com/x', 'user@host', 'a b']) {
      assert.throws(
        () => parseAllowHosts(`ok.example.com,${entry}`),
        (error: Error) => {
          assert.match(error.message, /^MCP_FETCH_ALLOW_HOSTS: /);
          assert.ok(error.message.includes(entry), error.message);
          return true;
        },
      );
    }
  });
});
