/**
 * The sandbox's container image as FC runs it (`npm run test:image`; not part of `npm test`,
 * as it needs the image: `npm run image` builds it, warm in seconds). The container runs under
 * a real engine (podman with runc here) with FC's variables, s.yaml's environment for the
 * sandbox function and its port, published on loopback; the MCP function's built bundle
 * reaches it through the stand-ins for FC's signature-checking trigger gateway and the FC
 * Session API (the path test/fc-runtime-contract.test.ts takes with the embedded sandbox),
 * driven by the official MCP client. Twice: with the jail on (a runtime that leaves /proc
 * unmasked, SANDBOX_JAIL=on so it cannot quietly fall back), and with the jail forced off (a
 * runtime that lets no process make namespaces). Podman's default masked /proc is such a
 * runtime: there SANDBOX_JAIL=auto must see it and say so.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { eventually } from '../support/eventually.ts';
import { type FcDeployment, startFcDeployment } from '../support/fc-deployment.ts';
import { renderServerlessYaml } from '../support/fc-render-yaml.ts';
import { call, ROOT, structured, textOf } from '../support/mcp-harness.ts';
import { freePort } from '../support/processes.ts';

const run = promisify(execFile);
const ROLE = { accessKeyId: 'STS.image-role-key', accessKeySecret: 'image-role-secret', securityToken: 'image-role-token' };
const ACCOUNT_ID = '1234567890123456';
const AUTH_TOKEN = 'image-test-mcp-token';
const SANDBOX_API_TOKEN = 'image-test-sandbox-token-0123456789';
const CONTEXT_SECRET = 'image-test-context-secret-32chars';
const IMAGE = 'localhost/fc-code-interpreter-sandbox:latest';

interface Engine {
  engine: string;
  env: Record<string, string>;
  runArgs: string[];
}

/** The engine `npm run image` builds with, and what its calls need (CONTAINERS_CONF for podman here). */
const engine = JSON.parse(
  execFileSync(process.execPath, [join(ROOT, 'scripts/image.mjs'), '--print-engine'], { encoding: 'utf8' }),
) as Engine;
const engineEnv = { ...process.env, ...engine.env };
const containerCli = (args: string[]) => run(engine.engine, args, { env: engineEnv, maxBuffer: 16 * 1024 * 1024 });

type RunOutput = {
  stdout: string;
  stderr: string;
  results: { is_main_result: boolean; text?: string }[];
  error: { name: string; value: string } | null;
};

interface Container {
  name: string;
  url: string;
  /** From `run` until /health answered 200. */
  healthAfterMs: number;
  logs(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the image as FC would: its env, FC's variables, FC's port (published on loopback); waits for /health. */
async function startContainer(env: Record<string, string>, port: number, extraArgs: string[]): Promise<Container> {
  const hostPort = await freePort();
  const name = `fc-sandbox-image-test-${process.pid}-${hostPort}`;
  const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  const started = performance.now();
  await containerCli([
    'run',
    '-d',
    '--rm',
    ...engine.runArgs,
    ...extraArgs,
    '--name',
    name,
    '-p',
    `127.0.0.1:${hostPort}:${port}`,
    ...envArgs,
    IMAGE,
  ]);
  const url = `http://127.0.0.1:${hostPort}`;
  const stop = async () => {
    await containerCli(['rm', '-f', '-t', '5', name]).catch(() => {});
  };
  const healthy = await eventually(async () => {
    try {
      return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).status === 200;
    } catch {
      return false;
    }
  }, 60_000);
  const logs = async () => {
    const { stdout, stderr } = await containerCli(['logs', name]).catch(() => ({ stdout: '', stderr: '' }));
    return stdout + stderr;
  };
  if (!healthy) {
    const output = await logs();
    await stop();
    throw new Error(`the container never answered /health:\n${output}`);
  }
  return { name, url, healthAfterMs: performance.now() - started, logs, stop };
}

const MODES = [
  {
    name: 'jail on (SANDBOX_JAIL=on, a runtime that leaves /proc unmasked)',
    jail: 'on',
    runArgs: ['--security-opt', 'unmask=/proc/*'],
    startLine: /^sandbox jail: bubblewrap/m,
    // The jail's pid namespace: its first process is bwrap's init.
    pid1: 'bwrap',
  },
  {
    name: 'jail forced off (SANDBOX_JAIL=off, a runtime that forbids namespaces)',
    jail: 'off',
    runArgs: [],
    startLine: /^sandbox jail: off \(SANDBOX_JAIL=off\)/m,
    // The container's own pid namespace: tini is its first process.
    pid1: 'tini',
  },
] as const;

describe('the sandbox image under a container engine, as FC runs it (stand-ins for the FC Session API and trigger gateway)', () => {
  let sandboxFunction: Record<string, any>;

  before(async () => {
    await containerCli(['image', 'inspect', IMAGE]).catch(() => {
      throw new Error(`no ${IMAGE}: build it with \`npm run image\` (npm run test:image does)`);
    });
    const rendered = await renderServerlessYaml(ROOT, { CONTEXT_SECRET, MCP_AUTH_TOKEN: AUTH_TOKEN, SANDBOX_API_TOKEN });
    sandboxFunction = rendered.resources.sandbox!.props;
  });

  /** What FC gives the sandbox function's container: s.yaml's environment and FC's variables. */
  const fcEnvironment = (jail: string, instance: string) => ({
    ...(sandboxFunction.environmentVariables as Record<string, string>),
    SANDBOX_JAIL: jail,
    FC_CUSTOM_LISTEN_PORT: String(sandboxFunction.customContainerConfig.port),
    FC_FUNCTION_NAME: sandboxFunction.functionName,
    FC_REGION: sandboxFunction.region,
    FC_ACCOUNT_ID: ACCOUNT_ID,
    FC_INSTANCE_ID: instance,
  });

  test("with podman's masked /proc, SANDBOX_JAIL=auto finds no namespaces for the jail, says so, and still serves", async (t) => {
    const container = await startContainer(fcEnvironment('auto', 'c-image-auto'), sandboxFunction.customContainerConfig.port, []);
    try {
      t.diagnostic(`container start until /health: ${container.healthAfterMs.toFixed(0)} ms`);
      assert.match(await container.logs(), /^sandbox jail: off \(no namespaces here: bwrap: .+\): kernels run without namespaces/m);
      const response = await fetch(`${container.url}/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-access-token': SANDBOX_API_TOKEN },
        body: JSON.stringify({ code: '6 * 7' }),
      });
      assert.match(await response.text(), /"text":"42"/);
    } finally {
      await container.stop();
    }
  });

  for (const mode of MODES) {
    describe(mode.name, () => {
      let container: Container;
      let fc: FcDeployment;
      let client: Client;

      before(async () => {
        container = await startContainer(fcEnvironment(mode.jail, `c-image-${mode.jail}`), sandboxFunction.customContainerConfig.port, [
          ...mode.runArgs,
        ]);
        fc = await startFcDeployment({
          contextSecret: CONTEXT_SECRET,
          authToken: AUTH_TOKEN,
          role: ROLE,
          accountId: ACCOUNT_ID,
          instanceId: `c-image-mcp-${mode.jail}`,
          sandboxApiToken: SANDBOX_API_TOKEN,
          sandbox: { url: container.url, close: () => container.stop() },
        });
        let n = 0;
        // FC's gateway adds these to every request of a function with a role; the agent sends its bearer token.
        const fcFetch: typeof fetch = (input, init) => {
          const headers = new Headers(init?.headers);
          headers.set('x-fc-request-id', `image-req-${++n}`);
          headers.set('x-fc-access-key-id', ROLE.accessKeyId);
          headers.set('x-fc-access-key-secret', ROLE.accessKeySecret);
          headers.set('x-fc-security-token', ROLE.securityToken);
          headers.set('authorization', `Bearer ${AUTH_TOKEN}`);
          return fetch(input, { ...init, headers });
        };
        client = new Client({ name: 'fc-image-test', version: '1.0.0' });
        await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${fc.port}/mcp`), { fetch: fcFetch }));
      });

      after(async () => {
        await client?.close();
        // Stops the bundle, the stand-ins and the container.
        if (fc) await fc.close();
        else await container?.stop();
      });

      const context = async (language: string) => {
        const created = await call(client, 'create_context', { language });
        assert.notEqual(created.isError, true, textOf(created));
        return structured<{ context_id: string }>(created).context_id;
      };
      const runCode = async (args: Record<string, unknown>) => structured<RunOutput>(await call(client, 'run_code', args));

      test('FC contract: the start line names the jail; /health answers in time; the API wants the shared token', async () => {
        assert.match(await container.logs(), mode.startLine);
        const health = sandboxFunction.customContainerConfig.healthCheckConfig;
        const response = await fetch(`${container.url}${health.httpGetUrl}`, { signal: AbortSignal.timeout(health.timeoutSeconds * 1000) });
        assert.equal(response.status, 200);
        const refused = await fetch(`${container.url}/contexts`, { headers: { 'x-access-token': 'not-the-token-0123456789' } });
        assert.equal(refused.status, 401);
        assert.ok(fc.gateway.passed === 0 || fc.gateway.refused.length === 0);
      });

      test('Python, JavaScript and TypeScript contexts run code, each in its own FC session, never as root', async () => {
        const python = await context('python');
        const py = await runCode({
          context_id: python,
          code: 'import os, scipy.stats, pandas as pd\nprint(os.getuid(), open("/proc/1/comm").read().strip())\npd.Series([1, 2, 3]).sum()',
        });
        assert.equal(py.error, null, JSON.stringify(py));
        const [uid, pid1] = py.stdout.trim().split(' ');
        assert.equal(pid1, mode.pid1);
        // In the jail the session's uid shows as 1000 (its user namespace); without it, as itself.
        assert.ok(mode.jail === 'on' ? uid === '1000' : Number(uid) >= 200_000, `uid ${uid}`);
        assert.equal(py.results.find((r) => r.is_main_result)?.text, '6');
        for (const language of ['javascript', 'typescript']) {
          const id = await context(language);
          const js = await runCode({ context_id: id, code: 'const n: number = 6 * 7;\nconsole.log("n =", n);\nn', language });
          assert.equal(js.error, null, `${language}: ${JSON.stringify(js)}`);
          assert.equal(js.stdout, 'n = 42\n');
          await call(client, 'stop_context', { context_id: id });
        }
        assert.ok(fc.api.sessions.size >= 1, 'contexts live in FC sessions');
        assert.deepEqual(fc.gateway.refused, [], 'every call to the container was signed');
        await call(client, 'stop_context', { context_id: python });
      });

      test('files: write_file, then pandas reads it; a file the code writes comes back from read_file', async () => {
        const id = await context('python');
        const written = await call(client, 'write_file', { context_id: id, path: 'data/sales.csv', content: 'month,sales\n1,10\n2,30\n' });
        assert.notEqual(written.isError, true, textOf(written));
        const out = await runCode({
          context_id: id,
          code: 'import pandas as pd\ndf = pd.read_csv("data/sales.csv")\nopen("total.txt", "w").write(str(df.sales.sum()))\nint(df.sales.sum())',
        });
        assert.equal(out.error, null, JSON.stringify(out));
        assert.equal(out.results.find((r) => r.is_main_result)?.text, '40');
        const read = await call(client, 'read_file', { context_id: id, path: 'total.txt' });
        assert.notEqual(read.isError, true, textOf(read));
        assert.match(textOf(read), /\b40\b/);
        await call(client, 'stop_context', { context_id: id });
      });

      test('limits: a memory hog gets MemoryError, a run past its timeout is stopped, and the context lives on', async () => {
        const id = await context('python');
        const hog = await runCode({ context_id: id, code: 'kept = 1\nhog = bytearray(64 * 1024 ** 3)' });
        assert.equal(hog.error?.name, 'MemoryError', JSON.stringify(hog));
        const slow = await runCode({ context_id: id, code: 'import time\ntime.sleep(60)', timeout_seconds: 2 });
        assert.equal(slow.error?.name, 'TimeoutError', JSON.stringify(slow));
        const alive = await runCode({ context_id: id, code: 'kept + 1' });
        assert.equal(alive.results.find((r) => r.is_main_result)?.text, '2');
        await call(client, 'stop_context', { context_id: id });
      });

      test("FC freezing the instance between requests (the engine's pause: the cgroup freezer) loses nothing", async () => {
        const id = await context('python');
        await runCode({ context_id: id, code: 'kept = 41' });
        await containerCli(['pause', container.name]);
        await new Promise((resolve) => setTimeout(resolve, 3000));
        await containerCli(['unpause', container.name]);
        const health = await fetch(`${container.url}/health`, { signal: AbortSignal.timeout(3000) });
        assert.equal(health.status, 200);
        const after = await runCode({ context_id: id, code: 'kept + 1' });
        assert.equal(after.results.find((r) => r.is_main_result)?.text, '42', JSON.stringify(after));
        await call(client, 'stop_context', { context_id: id });
      });

      test('a kernel death is reported, and the context restarts with a fresh kernel', async () => {
        const id = await context('python');
        await runCode({ context_id: id, code: 'before = 1' });
        const died = await runCode({ context_id: id, code: 'import os\nos._exit(1)' });
        assert.equal(died.error?.name, 'KernelDiedError', JSON.stringify(died));
        const lost = await runCode({ context_id: id, code: 'before' });
        assert.equal(lost.error?.name, 'NameError');
        const works = await runCode({ context_id: id, code: '2 * 21' });
        assert.equal(works.results.find((r) => r.is_main_result)?.text, '42');
        await call(client, 'stop_context', { context_id: id });
      });
    });
  }
});
