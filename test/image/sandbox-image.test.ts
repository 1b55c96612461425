/**
 * The sandbox's container image as FC runs it (`npm run test:image`; not part of `npm test`,
 * as it needs the image: `npm run image` builds it, warm in seconds). The container runs under
 * a real engine (podman with runc here) with FC's variables, s.yaml's environment for the
 * sandbox function and its port, published on loopback; the MCP function's built bundle
 * reaches it through the stand-ins for FC's signature-checking trigger gateway and the FC
 * Session API (the path test/deploy/fc-runtime-contract.test.ts takes with the sandbox service),
 * driven by the official MCP client. Twice: with the jail on (a runtime that leaves /proc
 * unmasked, SANDBOX_JAIL=on so it cannot quietly fall back), and with the jail forced off (a
 * runtime that lets no process make namespaces). Podman's default masked /proc is such a
 * runtime: there SANDBOX_JAIL=auto must see it and say so. In each mode: the FC contract, all five
 * languages (Python, JavaScript, TypeScript, bash, R), charts, E2B's default contexts, files, limits,
 * the instance frozen and thawed, a kernel death; with the jail on, its seccomp filter.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { type FcDeployment, startFcDeployment } from '../support/fc-deployment.ts';
import { renderServerlessYaml } from '../support/fc-render-yaml.ts';
import { call, ROOT, structured, textOf } from '../support/mcp-harness.ts';
import { type Container, containerCli, fcSandboxEnvironment, requireImage, startContainer } from '../support/sandbox-container.ts';

const ROLE = { accessKeyId: 'STS.image-role-key', accessKeySecret: 'image-role-secret', securityToken: 'image-role-token' };
const ACCOUNT_ID = '1234567890123456';
const AUTH_TOKEN = 'image-test-mcp-token';
const SANDBOX_API_TOKEN = 'image-test-sandbox-token-0123456789';
const CONTEXT_SECRET = 'image-test-context-secret-32chars';

type RunOutput = {
  stdout: string;
  stderr: string;
  results: { is_main_result: boolean; text?: string }[];
  error: { name: string; value: string } | null;
};

const MODES = [
  {
    name: 'jail on (SANDBOX_JAIL=on, a runtime that leaves /proc unmasked)',
    jail: 'on',
    runArgs: ['--security-opt', 'unmask=/proc/*'],
    startLine: /"msg":"sandbox jail: bubblewrap/,
    // The jail's pid namespace: its first process is bwrap's init.
    pid1: 'bwrap',
  },
  {
    name: 'jail forced off (SANDBOX_JAIL=off, a runtime that forbids namespaces)',
    jail: 'off',
    runArgs: [],
    startLine: /"msg":"sandbox jail: off \(SANDBOX_JAIL=off\)/,
    // The container's own pid namespace: tini is its first process.
    pid1: 'tini',
  },
] as const;

describe('the sandbox image under a container engine, as FC runs it (stand-ins for the FC Session API and trigger gateway)', () => {
  let sandboxFunction: Record<string, any>;

  before(async () => {
    await requireImage();
    const rendered = await renderServerlessYaml(ROOT, { CONTEXT_SECRET, MCP_AUTH_TOKEN: AUTH_TOKEN, SANDBOX_API_TOKEN });
    sandboxFunction = rendered.resources.sandbox!.props;
  });

  /** What FC gives the sandbox function's container, with the jail mode the case wants. */
  const fcEnvironment = (jail: string, instance: string) => ({
    ...fcSandboxEnvironment(sandboxFunction, ACCOUNT_ID, instance),
    SANDBOX_JAIL: jail,
  });

  /** The container's sandbox runs a trivial execute. */
  const assertRunsCode = async (container: Container) => {
    const response = await fetch(`${container.url}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-access-token': SANDBOX_API_TOKEN },
      body: JSON.stringify({ code: '6 * 7' }),
    });
    assert.match(await response.text(), /"text":"42"/);
  };

  test("with podman's masked /proc, SANDBOX_JAIL=auto finds no namespaces for the jail, says so, and still serves", async (t) => {
    const container = await startContainer(fcEnvironment('auto', 'c-image-auto'), sandboxFunction.customContainerConfig.port, []);
    try {
      t.diagnostic(`container start until /health: ${container.healthAfterMs.toFixed(0)} ms`);
      assert.match(await container.logs(), /"msg":"sandbox jail: off \(no namespaces here: bwrap: .+\): kernels run without namespaces/);
      await assertRunsCode(container);
    } finally {
      await container.stop();
    }
  });

  // In a container with the runtime's default capabilities root may not open (no CAP_SYS_PTRACE) nor enter
  // (no CAP_SYS_ADMIN) the namespaces of a jail running under a session uid, and there is no /dev/net/tun:
  // a jail cannot get its network there. The start probes it (jail-mode.ts): auto falls back to the jail
  // off and says why (SANDBOX_JAIL=on refuses to start, tested outside the image), rather than starting a
  // sandbox whose every kernel fails with "slirp4netns ended before the network was up".
  // s.yaml keeps the network off (SANDBOX_ALLOW_NETWORK=false), where the jail needs none of it.
  test('with the network allowed where a jail cannot get it, auto starts with the jail off, says why, and runs code', async () => {
    const container = await startContainer(
      { ...fcEnvironment('auto', 'c-image-network'), SANDBOX_ALLOW_NETWORK: 'true' },
      sandboxFunction.customContainerConfig.port,
      ['--security-opt', 'unmask=/proc/*'],
    );
    try {
      assert.match(
        await container.logs(),
        /"msg":"sandbox jail: off \(the network is allowed, but a jail cannot get it here \(.+\)\): kernels run without namespaces/,
      );
      await assertRunsCode(container);
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
        // A creation that fails says why from inside the container too (its log's last lines).
        if (created.isError)
          assert.fail(
            `${textOf(created)}\n--- the container's log, last lines:\n${(await container.logs()).split('\n').slice(-30).join('\n')}`,
          );
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

      test("the jail's seccomp filter holds in the container: unshare fails, which the runtime's own profile allows", async () => {
        const id = await context('python');
        // unshare(CLONE_NEWUSER): our filter denies it (EPERM); podman's default profile lets it through to the
        // kernel, which refuses it to a process with threads, as the kernel's is (EINVAL).
        const out = await runCode({
          context_id: id,
          code: 'import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nrc = libc.unshare(0x10000000)\nprint(rc, os.strerror(ctypes.get_errno()))',
        });
        assert.equal(out.error, null, JSON.stringify(out));
        assert.equal(out.stdout.trim(), mode.jail === 'on' ? '-1 Operation not permitted' : '-1 Invalid argument');
        await call(client, 'stop_context', { context_id: id });
      });

      test('bash keeps its shell state between runs and R its values, both never as root', async () => {
        const bash = await context('bash');
        const first = await runCode({ context_id: bash, code: 'mkdir -p proj && cd proj\ncount=41\ngreet() { echo "hello $1"; }' });
        assert.equal(first.error, null, JSON.stringify(first));
        const second = await runCode({ context_id: bash, code: 'echo "$(basename "$PWD") $((count + 1)) $(id -u)"; greet you' });
        assert.equal(second.error, null, JSON.stringify(second));
        const [dir, sum, uid, ...greeting] = second.stdout.trim().split(/\s+/);
        assert.deepEqual([dir, sum, greeting.join(' ')], ['proj', '42', 'hello you'], second.stdout);
        assert.ok(mode.jail === 'on' ? uid === '1000' : Number(uid) >= 200_000, `uid ${uid}`);
        const failed = await runCode({ context_id: bash, code: 'ls /no/such/dir' });
        assert.equal(failed.error?.name, 'ExitCodeError', JSON.stringify(failed));
        await call(client, 'stop_context', { context_id: bash });

        const r = await context('r');
        const value = await runCode({ context_id: r, code: 'x <- c(1, 2, 3)\nsum(x) * 7' });
        assert.equal(value.error, null, JSON.stringify(value));
        // IRkernel shows a value as display data (as E2B's image does), not as the main result.
        assert.equal(value.results[0]?.text, '[1] 42');
        const failedR = await runCode({ context_id: r, code: 'stop("boom")' });
        assert.match(failedR.error?.value ?? '', /boom/);
        await call(client, 'stop_context', { context_id: r });
      });

      test('a matplotlib chart comes back as an image and as chart data beside it', async () => {
        const plotted = await call(client, 'run_code', {
          code: 'import matplotlib.pyplot as plt\nplt.bar(["a", "b"], [2, 3], label="n")\nplt.title("counts")\nplt.show()\nshown = 1',
        });
        assert.notEqual(plotted.isError, true, textOf(plotted));
        assert.equal(plotted.content.filter((part) => part.type === 'image').length, 1, 'one image');
        const [display] = structured<{ results: { formats: string[]; chart?: any }[] }>(plotted).results;
        assert.ok(display?.formats.includes('png'), JSON.stringify(display));
        assert.equal(display?.chart?.type, 'bar');
        assert.deepEqual(
          display?.chart?.elements.map((e: { label: string; value: number }) => [e.label, e.value]),
          [
            ['a', 2],
            ['b', 3],
          ],
        );
      });

      test("E2B's default contexts: python and javascript are listed before first use, and code sent with a language runs in them", async () => {
        // Straight to the container, as E2B's client talks to its sandbox: no session header (E2B lists its defaults there).
        const headers = { 'content-type': 'application/json', 'x-access-token': SANDBOX_API_TOKEN };
        const listed = (await (await fetch(`${container.url}/contexts`, { headers })).json()) as { id: string; language: string }[];
        const javascript = listed.find((c) => c.language === 'javascript');
        assert.ok(javascript && listed.some((c) => c.language === 'python'), JSON.stringify(listed));
        const execute = async (body: Record<string, unknown>) =>
          (await fetch(`${container.url}/execute`, { method: 'POST', headers, body: JSON.stringify(body) })).text();
        assert.doesNotMatch(await execute({ code: 'globalThis.seen = 5', context_id: javascript.id }), /"type":"error"/);
        assert.match(await execute({ code: 'seen * 2', language: 'javascript' }), /"text":"10"/);
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
