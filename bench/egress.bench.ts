/**
 * What the policy proxy costs a download: 10 MB from a loopback server, in turns.
 * (1) On the host, the proxy alone: Node's http client straight to the server, against the same
 *     through the proxy's unix socket (absolute-URI forwarding, and a CONNECT tunnel).
 * (2) From a Python kernel in the jail (urllib): through the bridge and the proxy (a context's
 *     policy), against the jail's only other way out, slirp4netns (SANDBOX_ALLOW_NETWORK=true),
 *     to the host's own address.
 * Target: ≤ ×1.2 against the direct one.
 */
import { createServer, request, type IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContextEgress } from '../src/sandbox-service/egress/context-egress.ts';
import { parsePolicy } from '../src/sandbox-service/egress/egress-policy.ts';
import { PolicyProxy } from '../src/sandbox-service/egress/policy-proxy.ts';
import { startSandbox } from '../src/sandbox-service/index.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { formatMarkdownTable, formatSummary } from './lib/table.ts';

const SIZE = 10 * 1024 * 1024;
const ROUNDS = Number(process.env.EGRESS_BENCH_ROUNDS ?? 12);
const body = Buffer.alloc(SIZE, 7);
const hostAddress =
  Object.values(networkInterfaces())
    .flat()
    .find((address) => address && address.family === 'IPv4' && !address.internal)?.address ?? '127.0.0.1';

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-length': SIZE, 'content-type': 'application/octet-stream' });
  res.end(body);
});
await new Promise<void>((ready) => server.listen(0, '0.0.0.0', ready));
const port = (server.address() as { port: number }).port;

function drain(res: IncomingMessage, started: number): Promise<number> {
  return new Promise((done, fail) => {
    let bytes = 0;
    res.on('data', (chunk: Buffer) => (bytes += chunk.length));
    res.on('end', () => (bytes === SIZE ? done(performance.now() - started) : fail(new Error(`got ${bytes} bytes`))));
    res.on('error', fail);
  });
}

function direct(): Promise<number> {
  const started = performance.now();
  return new Promise((done, fail) => {
    request({ host: '127.0.0.1', port, path: '/10mb', agent: false }, (res) => drain(res, started).then(done, fail))
      .on('error', fail)
      .end();
  });
}

function forwarded(socketPath: string): Promise<number> {
  const started = performance.now();
  return new Promise((done, fail) => {
    request({ socketPath, path: `http://127.0.0.1:${port}/10mb`, headers: { host: `127.0.0.1:${port}` } }, (res) =>
      drain(res, started).then(done, fail),
    )
      .on('error', fail)
      .end();
  });
}

function tunnelled(socketPath: string): Promise<number> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const connect = request({ socketPath, method: 'CONNECT', path: `127.0.0.1:${port}` });
    connect.on('connect', (res, socket) => {
      if (res.statusCode !== 200) return fail(new Error(`CONNECT answered ${res.statusCode}`));
      request({ createConnection: () => socket, path: '/10mb', headers: { host: `127.0.0.1:${port}` } }, (answer) =>
        drain(answer, started).then((ms) => {
          socket.destroy();
          done(ms);
        }, fail),
      )
        .on('error', fail)
        .end();
    });
    connect.on('error', fail);
    connect.end();
  });
}

async function inTurns(runners: Array<() => Promise<number>>): Promise<Summary[]> {
  const samples: number[][] = runners.map(() => []);
  for (const runner of runners) await runner(); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, runner] of runners.entries()) samples[i]!.push(await runner());
  }
  return samples.map((list) => summarize(list));
}

// (1) The proxy alone, on the host.
const dir = mkdtempSync(join(tmpdir(), 'egress-bench-'));
const proxy = new PolicyProxy({ privateHosts: ['127.0.0.1'], headers: {} });
const route = new ContextEgress(proxy);
route.setPolicy(parsePolicy({ allowOut: ['127.0.0.1'] }));
const socketPath = join(dir, 'egress.sock');
const listener = route.listenUnix(socketPath, undefined);
const [hostDirect, hostForwarded, hostTunnelled] = await inTurns([direct, () => forwarded(socketPath), () => tunnelled(socketPath)]);
listener.close();
proxy.close();
rmSync(dir, { recursive: true, force: true });

// (2) From a kernel in the jail: the policy proxy against slirp4netns.
const download = (url: string) =>
  [
    'import time, urllib.request',
    't = time.perf_counter()',
    `n = len(urllib.request.urlopen(${JSON.stringify(url)}).read())`,
    `assert n == ${SIZE}, n`,
    'print((time.perf_counter() - t) * 1000)',
  ].join('\n');

/** The same over http.client: through a CONNECT tunnel (as pip's https goes), or straight to the host. */
const tunnelDownload = (host: string, viaProxy: boolean) =>
  [
    'import time, http.client',
    't = time.perf_counter()',
    viaProxy ? 'c = http.client.HTTPConnection("127.0.0.1", 3128)' : `c = http.client.HTTPConnection(${JSON.stringify(host)}, ${port})`,
    viaProxy ? `c.set_tunnel(${JSON.stringify(host)}, ${port})` : '',
    'c.request("GET", "/10mb")',
    'n = len(c.getresponse().read())',
    'c.close()',
    `assert n == ${SIZE}, n`,
    'print((time.perf_counter() - t) * 1000)',
  ].join('\n');

async function kernelRunner(options: Record<string, unknown>, allowOut: string[] | undefined, url: string, code = download(url)) {
  const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, poolSize: 0, ...options }, { log: () => {} });
  const headers = { 'content-type': 'application/json', 'x-ci-session-id': 'egress-bench' };
  const created = await fetch(`${sandbox.url}/contexts`, { method: 'POST', headers, body: JSON.stringify(allowOut ? { allowOut } : {}) });
  if (!created.ok) throw new Error(`POST /contexts: ${created.status} ${await created.text()}`);
  const { id } = (await created.json()) as { id: string };
  const run = async () => {
    const response = await fetch(`${sandbox.url}/execute`, { method: 'POST', headers, body: JSON.stringify({ context_id: id, code }) });
    const text = await response.text();
    const line = text.split('\n').find((l) => l.includes('"stdout"'));
    if (!line) throw new Error(`no timing: ${text.slice(0, 500)}`);
    return Number((JSON.parse(line) as { text: string }).text.trim());
  };
  return { run, close: () => sandbox.close() };
}

const viaProxy = await kernelRunner(
  { egressAllow: ['*'], egressPrivateHosts: [hostAddress] },
  [hostAddress],
  `http://${hostAddress}:${port}/10mb`,
);
const viaSlirp = await kernelRunner({ allowNetwork: true }, undefined, `http://${hostAddress}:${port}/10mb`);
const tunnelProxy = await kernelRunner(
  { egressAllow: ['*'], egressPrivateHosts: [hostAddress] },
  [hostAddress],
  '',
  tunnelDownload(hostAddress, true),
);
const tunnelSlirp = await kernelRunner({ allowNetwork: true }, undefined, '', tunnelDownload(hostAddress, false));
const [jailProxy, jailSlirp, jailTunnel, jailDirect] = await inTurns([viaProxy.run, viaSlirp.run, tunnelProxy.run, tunnelSlirp.run]);
for (const runner of [viaProxy, viaSlirp, tunnelProxy, tunnelSlirp]) await runner.close();
server.close();

const ratio = (ours: Summary | undefined, base: Summary | undefined) => `×${(ours!.p50 / base!.p50).toFixed(2)}`;
const met = (ours: Summary | undefined, base: Summary | undefined) => (ours!.p50 / base!.p50 <= 1.2 ? 'yes' : 'NO');
console.log(
  formatMarkdownTable([
    ['10 MB download, p50 / p90 ms', 'through the proxy', 'direct (same run, in turns)', 'ratio (p50)', 'target ≤ ×1.2'],
    [
      'host: Node http, absolute-URI forwarding',
      formatSummary(hostForwarded),
      formatSummary(hostDirect),
      ratio(hostForwarded, hostDirect),
      met(hostForwarded, hostDirect),
    ],
    [
      'host: Node http, CONNECT tunnel',
      formatSummary(hostTunnelled),
      formatSummary(hostDirect),
      ratio(hostTunnelled, hostDirect),
      met(hostTunnelled, hostDirect),
    ],
    [
      'jail: Python urllib (forwarding), bridge + proxy vs slirp4netns',
      formatSummary(jailProxy),
      formatSummary(jailSlirp),
      ratio(jailProxy, jailSlirp),
      met(jailProxy, jailSlirp),
    ],
    [
      'jail: Python http.client, CONNECT tunnel vs slirp4netns',
      formatSummary(jailTunnel),
      formatSummary(jailDirect),
      ratio(jailTunnel, jailDirect),
      met(jailTunnel, jailDirect),
    ],
  ]),
);
console.log(
  `${ROUNDS} rounds each, in turns; load average ${(await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
