/**
 * The example CI workflow runs the smoke test against what it just deployed: after
 * `s deploy`, in the same job, with the token from the job's secrets.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './mcp-harness.ts';

test('infra/ci/deploy.yml runs npm run smoke after s deploy, in the deploy job, with MCP_AUTH_TOKEN', async () => {
  const workflow = await readFile(join(ROOT, 'infra/ci/deploy.yml'), 'utf8');
  const deployJob = workflow.slice(workflow.indexOf('\n  deploy:'));
  assert.ok(deployJob.length < workflow.length, 'a deploy job');
  const deployAt = deployJob.search(/npx s deploy -y/);
  const smokeAt = deployJob.search(/npm run -s smoke -- "\$URL"/);
  assert.ok(deployAt > 0 && smokeAt > deployAt, 'the smoke step follows the deploy step');
  assert.match(deployJob, /MCP_AUTH_TOKEN: \$\{\{ secrets\.MCP_AUTH_TOKEN \}\}/);

  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.smoke, 'tsx scripts/smoke.ts');
});
