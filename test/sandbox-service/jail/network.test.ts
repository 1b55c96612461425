/**
 * With the network allowed (SANDBOX_ALLOW_NETWORK=true), tenant B's code tries to reach
 * tenant A's kernels as a security review did: every TCP port listening in
 * /proc/net/tcp(6), every abstract unix socket, the host's loopback. Every jail has a
 * network namespace of its own (egress through slirp4netns), so nothing of A's, nor of
 * the host's loopback, is reachable; a server the test starts on the host's own address is.
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { createContext, execute } from '../../support/sandbox-support.ts';

const A = { 'x-ci-session-id': 'net-a' };
const B = { 'x-ci-session-id': 'net-b' };

let sandbox: RunningSandbox;
let url: string;
let loopbackServer: Server;
let abstractServer: Server;
let httpServer: HttpServer;
let loopbackPort: number;
let httpPort: number;
const ABSTRACT_NAME = `fc-sandbox-test-${process.pid}`;
/** The host's own non-loopback IPv4 address: where egress goes in this offline test. */
const hostAddress = Object.values(networkInterfaces())
  .flat()
  .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 0, allowNetwork: true });
  url = sandbox.url;
  loopbackServer = createServer((socket) => socket.end('host loopback\n'));
  await new Promise<void>((resolve) => loopbackServer.listen(0, '127.0.0.1', resolve));
  loopbackPort = (loopbackServer.address() as { port: number }).port;
  abstractServer = createServer((socket) => socket.end('host abstract\n'));
  await new Promise<void>((resolve) => abstractServer.listen(`\0${ABSTRACT_NAME}`, resolve));
  httpServer = createHttpServer((_request, response) => response.end('egress works'));
  await new Promise<void>((resolve) => httpServer.listen(0, '0.0.0.0', resolve));
  httpPort = (httpServer.address() as { port: number }).port;
});
after(async () => {
  await sandbox.close();
  for (const server of [loopbackServer, abstractServer, httpServer]) await new Promise((resolve) => server.close(resolve));
});

const scan = (extraPorts: number[], abstractNames: string[]) =>
  'import socket, json\n' +
  'import os\n' +
  // Sockets held by a process of this jail (its own kernel's): the rest would be someone else's.
  'own = set()\n' +
  'for pid in [p for p in os.listdir("/proc") if p.isdigit()]:\n' +
  '    try:\n' +
  '        own.update(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))\n' +
  '    except OSError:\n' +
  '        pass\n' +
  'listening, foreign = [], []\n' +
  'for table in ("/proc/net/tcp", "/proc/net/tcp6"):\n' +
  '    for line in open(table).read().splitlines()[1:]:\n' +
  '        fields = line.split()\n' +
  '        if fields[3] == "0A":\n' +
  '            port = int(fields[1].split(":")[1], 16)\n' +
  '            listening.append(port)\n' +
  '            if f"socket:[{fields[9]}]" not in own:\n' +
  '                foreign.append(port)\n' +
  'abstract = [line.split()[-1][1:] for line in open("/proc/net/unix").read().splitlines()[1:] if line.split()[-1].startswith("@")]\n' +
  'reached = []\n' +
  `for host in ("127.0.0.1", "10.0.2.2"):\n` +
  `    for port in sorted(set(listening + ${JSON.stringify(extraPorts)})):\n` +
  '        try:\n' +
  '            socket.create_connection((host, port), timeout=2).close()\n' +
  '            reached.append(f"{host}:{port}")\n' +
  '        except OSError:\n' +
  '            pass\n' +
  `for name in set(abstract + ${JSON.stringify(abstractNames)}):\n` +
  '    s = socket.socket(socket.AF_UNIX)\n' +
  '    try:\n' +
  '        s.connect("\\0" + name)\n' +
  '        reached.append("@" + name)\n' +
  '    except OSError:\n' +
  '        pass\n' +
  '    s.close()\n' +
  'print(json.dumps({"listening": listening, "foreign": foreign, "abstract": abstract, "reached": reached}))';

test("with the network allowed, another tenant's kernels and the host's loopback are out of reach; egress works", async () => {
  // Tenant A: a Deno kernel (it listens on TCP) and a Python kernel, both busy printing.
  const denoA = await createContext(url, { language: 'javascript' }, A);
  const pythonA = await createContext(url, {}, A);
  const warm = await execute(url, { code: 'console.log("secret of A")', context_id: denoA }, A);
  assert.equal(warm.stdout, 'secret of A\n');
  const pythonB = await createContext(url, {}, B);
  const run = await execute(url, { code: scan([loopbackPort, 5555, 5556, 5557, 5558, 5559], [ABSTRACT_NAME]), context_id: pythonB }, B);
  assert.equal(run.error, undefined, run.error?.traceback?.toString());
  const seen = JSON.parse(run.stdout) as { listening: number[]; foreign: number[]; abstract: string[]; reached: string[] };
  // What B sees listening is its own kernel's (ipykernel may listen on a loopback port of its own).
  assert.deepEqual(seen.foreign, [], `B sees no one else's listening TCP socket: ${run.stdout}`);
  assert.deepEqual(seen.abstract, [], `B sees no abstract socket: ${run.stdout}`);
  const ownPorts = new Set(seen.listening.map((port) => `127.0.0.1:${port}`));
  assert.deepEqual(
    seen.reached.filter((address) => !ownPorts.has(address)),
    [],
    `B reaches nothing but its own: ${run.stdout}`,
  );
  // The same scan from A's own Python: its Deno neighbour is in another jail, out of reach too.
  const fromA = await execute(url, { code: scan([5555, 5556, 5557, 5558, 5559], []), context_id: pythonA }, A);
  const seenA = JSON.parse(fromA.stdout) as typeof seen;
  assert.deepEqual(seenA.foreign, [], fromA.stdout);
  assert.deepEqual(
    seenA.reached.filter((address) => !seenA.listening.some((port) => address === `127.0.0.1:${port}`)),
    [],
    fromA.stdout,
  );

  if (!hostAddress) return; // no address but loopback on this host: egress cannot be shown
  const egress = await execute(
    url,
    {
      code: `import urllib.request\nprint(urllib.request.urlopen("http://${hostAddress}:${httpPort}/", timeout=10).read().decode())`,
      context_id: pythonB,
    },
    B,
  );
  assert.equal(egress.stdout, 'egress works\n', JSON.stringify(egress.error));
  const fromDeno = await execute(
    url,
    { code: `console.log(await (await fetch("http://${hostAddress}:${httpPort}/")).text())`, context_id: denoA },
    A,
  );
  assert.equal(fromDeno.stdout, 'egress works\n', JSON.stringify(fromDeno.error));
});
