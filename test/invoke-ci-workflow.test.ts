/**
 * The example CI workflow (infra/ci/deploy.yml), read as GitHub Actions reads it: the
 * deploy job waits for the tests, deploys, then runs the smoke test against what it just
 * deployed, with the token from the job's secrets. Its deploy and smoke steps' scripts run
 * here as the runner runs them (`bash -e`), with stand-ins for `npx` and `npm` that
 * record how they were called.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { ROOT } from './mcp-harness.ts';

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
      '#!/bin/sh\necho "npx $* SANDBOX_IMAGE=${SANDBOX_IMAGE-<unset>}" >> "$CALLS"\n' +
        '[ "$2" = mcp ] && printf \'[warn] running as root\\n%s\\n\' "$FC3_INFO"\nexit 0\n',
    );
    await writeFile(join(bin, 'npm'), '#!/bin/sh\necho "npm $* MCP_AUTH_TOKEN=$MCP_AUTH_TOKEN" >> "$CALLS"\n');
    await chmod(join(bin, 'npx'), 0o755);
    await chmod(join(bin, 'npm'), 0o755);
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
      env: { PATH: `${bin}:/usr/bin:/bin`, CALLS: record(), ...env },
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
    assert.ok(ci >= 0 && deployAt > ci && smokeAt > deployAt, `npm ci, deploy, smoke in that order: ${JSON.stringify(runs)}`);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: GitHub's expression, not ours
    assert.equal(deploy.env?.MCP_AUTH_TOKEN, '${{ secrets.MCP_AUTH_TOKEN }}');
    assert.equal(deploy.steps[smokeAt]!.env?.MCP_AUTH_TOKEN, undefined, "the smoke step uses the job's token");

    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.smoke, 'tsx scripts/smoke.ts');
  });

  test("the deploy step leaves an empty SANDBOX_IMAGE unset (s.yaml's default applies) and passes a set one on", async () => {
    const s = step(DEPLOY_COMMAND);
    const unset = await runStep(s, { SANDBOX_IMAGE: '' });
    assert.equal(unset.code, 0, unset.output);
    assert.deepEqual(unset.calls, ['npx s deploy -y SANDBOX_IMAGE=<unset>']);
    const set = await runStep(s, { SANDBOX_IMAGE: 'registry.example/me/ci:1' });
    assert.deepEqual(set.calls, ['npx s deploy -y SANDBOX_IMAGE=registry.example/me/ci:1']);
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
      'npx s mcp info -o json SANDBOX_IMAGE=<unset>',
      'npm run -s smoke -- https://code-interpreter-mcp.fcapp.run MCP_AUTH_TOKEN=the-token',
    ]);

    const none = await runStep(s, { ...token, MCP_URL: '', FC3_INFO: '{}' });
    assert.equal(none.code, 1);
    assert.match(none.output, /^smoke: no URL/m);
    assert.ok(!none.calls.some((c) => c.startsWith('npm')), 'no smoke run without a URL');
  });
});
