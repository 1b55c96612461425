/**
 * The example CI workflow (infra/ci/deploy.yml), read as GitHub Actions reads it: the
 * deploy job waits for the tests, builds the bundle and both images with the release's build stage
 * (scripts/release.mjs), pushes them to ACR, deploys, then
 * runs the smoke test against what it just deployed, with the token from the job's secrets.
 * Its steps' scripts run here as the runner runs them (`bash -e`), with stand-ins for `npx`,
 * `npm` and `podman` that record how they were called.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { ROOT } from '../support/mcp-harness.ts';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  env?: Record<string, string>;
  steps: Step[];
}

const SMOKE_COMMAND = /^\s*npm run -s smoke -- "\$URL"\s*$/m;
const DEPLOY_COMMAND = /\bnpx s deploy -y\b/;
const BUILD_COMMAND = /^\s*npm run release -- --only build\s*$/m;
const PUSH_COMMAND = /\bpodman push\b/;

describe('infra/ci/deploy.yml', () => {
  let deploy: Job;
  let bin: string;
  const record = () => join(bin, 'calls.log');

  before(async () => {
    const workflow = parse(await readFile(join(ROOT, 'infra/ci/deploy.yml'), 'utf8')) as { jobs: Record<string, Job> };
    deploy = workflow.jobs.deploy!;
    assert.ok(deploy, 'a deploy job');
    // Stand-ins: each call appends a line to calls.log; `npx s mcp info` answers as fc3 does (a warning line, then JSON).
    bin = await mkdtemp(join(tmpdir(), 'ci-bin-'));
    await writeFile(
      join(bin, 'npx'),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
      '#!/bin/sh\necho "npx $* SANDBOX_IMAGE=${SANDBOX_IMAGE-<unset>} SANDBOX_API_TOKEN=${SANDBOX_API_TOKEN-<unset>}" >> "$CALLS"\n' +
        '[ "$2" = mcp ] && printf \'[warn] running as root\\n%s\\n\' "$FC3_INFO"\nexit 0\n',
    );
    await writeFile(join(bin, 'npm'), '#!/bin/sh\necho "npm $* MCP_AUTH_TOKEN=$MCP_AUTH_TOKEN" >> "$CALLS"\n');
    // podman records its arguments and, for `login --password-stdin`, what it read.
    await writeFile(
      join(bin, 'podman'),
      '#!/bin/sh\nif [ "$1" = login ]; then echo "podman $* stdin=$(cat)" >> "$CALLS"; else echo "podman $*" >> "$CALLS"; fi\n',
    );
    await chmod(join(bin, 'npx'), 0o755);
    await chmod(join(bin, 'npm'), 0o755);
    await chmod(join(bin, 'podman'), 0o755);
  });
  after(() => (bin ? rm(bin, { recursive: true, force: true }) : undefined));

  const step = (command: RegExp): Step => {
    const found = deploy.steps.find((s) => s.run !== undefined && command.test(s.run));
    assert.ok(found, `a step runs ${command}`);
    return found;
  };

  /** Runs a step's script as the runner does, with the stand-ins first on PATH; its exit code, output and the calls made. */
  const runStep = async (s: Step, env: Record<string, string>) => {
    await rm(record(), { force: true });
    const result = await promisify(execFile)('bash', ['-e', '-c', s.run!], {
      cwd: ROOT,
      env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, CALLS: record(), ...env },
    }).then(
      (r) => ({ code: 0, output: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, output: e.stdout + e.stderr }),
    );
    const calls = (await readFile(record(), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    return { ...result, calls };
  };

  test('the deploy job runs after the tests: npm ci, then s deploy, then the smoke test, with MCP_AUTH_TOKEN from the secrets', async () => {
    assert.deepEqual([deploy.needs].flat(), ['test']);
    const runs = deploy.steps.map((s) => s.run ?? '');
    const ci = runs.indexOf('npm ci');
    const deployAt = runs.findIndex((r) => DEPLOY_COMMAND.test(r));
    const smokeAt = runs.findIndex((r) => SMOKE_COMMAND.test(r));
    const buildAt = runs.findIndex((r) => BUILD_COMMAND.test(r));
    const pushAt = runs.findIndex((r) => PUSH_COMMAND.test(r));
    assert.ok(
      ci >= 0 && buildAt > ci && pushAt > buildAt && deployAt > pushAt && smokeAt > deployAt,
      `npm ci, image build, push, deploy, smoke in that order: ${JSON.stringify(runs)}`,
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: GitHub's expression, not ours
    assert.equal(deploy.env?.MCP_AUTH_TOKEN, '${{ secrets.MCP_AUTH_TOKEN }}');
    assert.equal(deploy.steps[smokeAt]!.env?.MCP_AUTH_TOKEN, undefined, "the smoke step uses the job's token");

    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.smoke, 'tsx scripts/smoke.ts');
  });

  test("the deploy step leaves an empty SANDBOX_IMAGE unset (s.yaml's default applies) and passes a set one on", async () => {
    const s = step(DEPLOY_COMMAND);
    const token = { SANDBOX_API_TOKEN: 'the-sandbox-token' };
    const unset = await runStep(s, { ...token, SANDBOX_IMAGE: '' });
    assert.equal(unset.code, 0, unset.output);
    assert.deepEqual(unset.calls, ['npx s deploy -y SANDBOX_IMAGE=<unset> SANDBOX_API_TOKEN=the-sandbox-token']);
    const set = await runStep(s, { ...token, SANDBOX_IMAGE: 'registry.example/me/ci:1' });
    assert.deepEqual(set.calls, ['npx s deploy -y SANDBOX_IMAGE=registry.example/me/ci:1 SANDBOX_API_TOKEN=the-sandbox-token']);
  });

  test('the deploy step generates a SANDBOX_API_TOKEN when the secret is unset, masked in the log, fresh each time', async () => {
    const s = step(DEPLOY_COMMAND);
    const tokens: string[] = [];
    for (let i = 0; i < 2; i++) {
      const run = await runStep(s, { SANDBOX_API_TOKEN: '' });
      assert.equal(run.code, 0, run.output);
      const token = /SANDBOX_API_TOKEN=(\S+)$/.exec(run.calls[0] ?? '')?.[1] ?? '';
      assert.match(token, /^[0-9a-f]{64}$/, 'a random token the sandbox accepts (16+ characters)');
      assert.ok(run.output.includes(`::add-mask::${token}`), 'GitHub masks it in the log');
      tokens.push(token);
    }
    assert.notEqual(tokens[0], tokens[1]);
  });

  test("the image steps build with the release's build stage, then push to the user's ACR under a tag per commit and hand the sandbox's to s deploy", async () => {
    const build = await runStep(step(BUILD_COMMAND), { SANDBOX_IMAGE: '' });
    assert.equal(build.code, 0, build.output);
    assert.deepEqual(build.calls, ['npm run release -- --only build MCP_AUTH_TOKEN=']);
    // That stage is the release's own: the bundle and both images.
    const { STEPS } = (await import(pathToFileURL(join(ROOT, 'scripts/release.mjs')).href)) as { STEPS: { build: [string, string[]][] } };
    assert.deepEqual(
      STEPS.build.map(([command, args]) => [command, ...args].join(' ')),
      ['npm run build', 'npm run image -- sandbox server'],
    );

    const githubEnv = join(bin, 'github-env');
    await writeFile(githubEnv, '');
    const env = {
      SANDBOX_IMAGE: '',
      REGION: 'cn-shanghai',
      ACR_REGISTRY: '',
      ACR_NAMESPACE: 'my-ns',
      ACR_USERNAME: 'me@example',
      ACR_PASSWORD: 'acr-pass word',
      GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
      GITHUB_ENV: githubEnv,
    };
    const push = await runStep(step(PUSH_COMMAND), env);
    assert.equal(push.code, 0, push.output);
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const image = `registry.cn-shanghai.aliyuncs.com/my-ns/fc-code-interpreter-sandbox:${pkg.version}-0123456789ab`;
    const server = `registry.cn-shanghai.aliyuncs.com/my-ns/fc-code-interpreter-mcp:${pkg.version}-0123456789ab`;
    assert.deepEqual(push.calls, [
      'podman login registry.cn-shanghai.aliyuncs.com --username me@example --password-stdin stdin=acr-pass word',
      `podman tag localhost/fc-code-interpreter-sandbox:latest ${image}`,
      `podman push ${image}`,
      `podman tag localhost/fc-code-interpreter-mcp:latest ${server}`,
      `podman push ${server}`,
    ]);
    assert.equal(await readFile(githubEnv, 'utf8'), `SANDBOX_IMAGE=${image}\n`);
    assert.ok(!push.output.includes('acr-pass word'), 'the password goes through stdin, never the log');

    // An ACR Enterprise instance names its own registry.
    await writeFile(githubEnv, '');
    const enterprise = await runStep(step(PUSH_COMMAND), { ...env, ACR_REGISTRY: 'me-registry.cn-shanghai.cr.aliyuncs.com' });
    assert.match(enterprise.calls.at(-1) ?? '', /^podman push me-registry\.cn-shanghai\.cr\.aliyuncs\.com\/my-ns\//);
  });

  test("with SANDBOX_IMAGE set (AgentRun's image, or one pushed elsewhere) nothing is built or pushed", async () => {
    const env = { SANDBOX_IMAGE: 'registry.aliyuncs.com/agentrun/sandbox-code-interpreter', GITHUB_ENV: join(bin, 'unused-env') };
    for (const command of [BUILD_COMMAND, PUSH_COMMAND]) {
      const run = await runStep(step(command), env);
      assert.equal(run.code, 0, run.output);
      assert.deepEqual(run.calls, []);
    }
  });

  test("the smoke step tests MCP_URL if set, else the mcp function's system URL from fc3, and fails with a reason without either", async () => {
    const s = step(SMOKE_COMMAND);
    const token = { MCP_AUTH_TOKEN: 'the-token' };

    const given = await runStep(s, { ...token, MCP_URL: 'https://mcp.example.com/mcp' });
    assert.equal(given.code, 0, given.output);
    assert.deepEqual(given.calls, ['npm run -s smoke -- https://mcp.example.com/mcp MCP_AUTH_TOKEN=the-token']);

    const info = JSON.stringify({ mcp: { url: { system_url: 'https://code-interpreter-mcp.fcapp.run' } } });
    const fromFc3 = await runStep(s, { ...token, MCP_URL: '', FC3_INFO: info });
    assert.equal(fromFc3.code, 0, fromFc3.output);
    assert.deepEqual(fromFc3.calls, [
      'npx s mcp info -o json SANDBOX_IMAGE=<unset> SANDBOX_API_TOKEN=<unset>',
      'npm run -s smoke -- https://code-interpreter-mcp.fcapp.run MCP_AUTH_TOKEN=the-token',
    ]);

    const none = await runStep(s, { ...token, MCP_URL: '', FC3_INFO: '{}' });
    assert.equal(none.code, 1);
    assert.match(none.output, /^smoke: no URL/m);
    assert.ok(!none.calls.some((c) => c.startsWith('npm')), 'no smoke run without a URL');
  });
});
