/**
 * s.yaml as `s preview -o json` renders it offline (the Serverless Devs CLI, no cloud):
 * every fc3 resource's props validate against fc3's JSON Schema (infra/fc3-schema/schema.json, vendored from devsapp/fc3 src/schema.json, MIT),
 * and the two functions are wired as the deployment needs them.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { buildBundle, uploadedFiles } from '../support/fc-bundle.ts';
import { renderServerlessYaml, type RenderedYaml } from '../support/fc-render-yaml.ts';

const ROOT = join(import.meta.dirname, '../..');
const SCHEMA_PATH = join(ROOT, 'infra/fc3-schema/schema.json');
const DEPLOY_ENV = {
  CONTEXT_SECRET: 'a-context-secret-of-32-characters',
  MCP_AUTH_TOKEN: 'token-for-tests',
  SANDBOX_API_TOKEN: 'sandbox-token-for-tests-0123456789',
};

describe('s.yaml rendered offline by `s preview`', () => {
  let home: string;
  let rendered: RenderedYaml;
  let validate: ReturnType<Ajv['compile']>;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 's-home-'));
    rendered = await renderServerlessYaml(ROOT, { HOME: home, ...DEPLOY_ENV });
    const schema = JSON.parse(await readFile(SCHEMA_PATH, 'utf8'));
    validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  });
  // `s` may still be finishing its own log files under .s when it has answered: retry ENOTEMPTY a few times.
  after(() => rm(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));

  test('every fc3 resource validates against fc3-schema.json', () => {
    const fc3 = Object.entries(rendered.resources).filter(([, r]) => r.component === 'fc3');
    assert.deepEqual(fc3.map(([name]) => name).sort(), ['mcp', 'sandbox']);
    for (const [name, resource] of fc3) {
      const ok = validate(resource.props);
      assert.ok(ok, `${name}: ${JSON.stringify(validate.errors, null, 2)}`);
    }
  });

  test('the schema check is not vacuous: a wrong memory size, a missing image, a bad concurrency and an unknown trigger type are refused', () => {
    const mcp = rendered.resources.mcp!.props;
    const sandbox = rendered.resources.sandbox!.props;
    assert.equal(validate({ ...mcp, memorySize: 100 }), false);
    assert.equal(validate({ ...sandbox, customContainerConfig: undefined }), false);
    assert.equal(validate({ ...mcp, instanceConcurrency: 500 }), false);
    const triggers = [{ triggerName: 'http', triggerType: 'webhook', triggerConfig: { authType: 'anonymous', methods: ['GET'] } }];
    assert.equal(validate({ ...mcp, triggers }), false);
  });

  test("sandbox: our image from the user's ACR on port 5000, session affinity on our header, a signed-only trigger", () => {
    const p = rendered.resources.sandbox!.props;
    assert.equal(p.runtime, 'custom-container');
    assert.equal(p.customContainerConfig.port, 5000);
    // `npm run image` names it localhost/fc-code-interpreter-sandbox; infra/ci/deploy.yml pushes it under this name.
    assert.equal(p.customContainerConfig.image, `registry.${p.region}.aliyuncs.com/fc-code-interpreter/fc-code-interpreter-sandbox:latest`);
    assert.equal(p.customContainerConfig.healthCheckConfig.httpGetUrl, '/health');
    assert.equal(p.sessionAffinity, 'HEADER_FIELD');
    const affinity = p.sessionAffinityConfig;
    assert.match(affinity.affinityHeaderFieldName, /^[A-Za-z][A-Za-z0-9-]{4,39}$/);
    assert.doesNotMatch(affinity.affinityHeaderFieldName, /^x-fc-/i);
    assert.equal(typeof affinity.sessionTTLInSeconds, 'number');
    assert.equal(typeof affinity.sessionIdleTimeoutInSeconds, 'number');
    assert.equal(p.triggers.length, 1);
    assert.equal(p.triggers[0].triggerConfig.authType, 'function', 'not an anonymous public trigger');
    assert.ok(p.timeout >= 3600 + 15, 'a run of the longest allowed timeout finishes inside the sandbox function');
  });

  test('sandbox environment: the token the mcp function sends, the affinity header as its session header, the jail on auto', () => {
    const sandbox = rendered.resources.sandbox!.props;
    const env = sandbox.environmentVariables as Record<string, string>;
    for (const name of Object.keys(env)) assert.doesNotMatch(name, /^FC_/, `${name}: FC reserves the FC_ prefix`);
    assert.equal(env.SANDBOX_API_TOKEN, DEPLOY_ENV.SANDBOX_API_TOKEN);
    assert.equal(rendered.resources.mcp!.props.environmentVariables.SANDBOX_API_TOKEN, env.SANDBOX_API_TOKEN);
    assert.equal(env.SANDBOX_SESSION_HEADER, sandbox.sessionAffinityConfig.affinityHeaderFieldName);
    assert.equal(env.SANDBOX_ALLOW_NETWORK, String(sandbox.internetAccess));
    assert.equal(env.SANDBOX_JAIL, 'auto');
  });

  test('mcp: Node 20 layer, the bundle as command, health check, concurrency, timeout, trigger', () => {
    const p = rendered.resources.mcp!.props;
    assert.match(p.runtime, /^custom\.debian(10|11|12)$/);
    assert.deepEqual(p.layers, [`acs:fc:${p.region}:official:layers/Nodejs20/versions/3`]);
    assert.deepEqual(p.customRuntimeConfig.command, ['/opt/nodejs20/bin/node']);
    // V8 flags first (bench/mcp.bench.ts (d) measures RSS with exactly these), then the bundle.
    assert.deepEqual(p.customRuntimeConfig.args, ['--max-semi-space-size=2', '--max-old-space-size=96', 'dist/fc.js']);
    assert.equal(p.customRuntimeConfig.port, 9000);
    const health = p.customRuntimeConfig.healthCheckConfig;
    assert.equal(health.httpGetUrl, '/health');
    assert.ok(health.timeoutSeconds >= 1 && health.timeoutSeconds <= 3);
    assert.ok(p.instanceConcurrency >= 10, 'one instance serves many agents at once');
    assert.ok(p.timeout >= 3600 + 15, 'a run of the longest allowed timeout (3600 s) plus the client grace fits');
    assert.ok(p.memorySize % 64 === 0 && p.memorySize >= 128);
    const ratio = p.cpu / (p.memorySize / 1024);
    assert.ok(ratio >= 0.25 && ratio <= 1, `cpu : memory(GB) must be between 1:4 and 1:1 (got ${p.cpu} : ${p.memorySize / 1024})`);
    assert.match(p.role, /^acs:ram::.+:role\/.+/);
    const trigger = p.triggers[0];
    assert.equal(trigger.triggerType, 'http');
    assert.deepEqual([...trigger.triggerConfig.methods].sort(), ['DELETE', 'GET', 'OPTIONS', 'POST']);
    assert.deepEqual(rendered.resources.mcp!.actions?.['pre-deploy'], [{ run: 'npm ci && npm run build', path: './' }]);
  });

  test('mcp environment: sandbox URL and session settings from the sandbox resource, secrets from the deploy environment', () => {
    const env = rendered.resources.mcp!.props.environmentVariables as Record<string, string>;
    const sandbox = rendered.resources.sandbox!.props;
    for (const name of Object.keys(env)) assert.doesNotMatch(name, /^FC_/, `${name}: FC reserves the FC_ prefix`);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: s.yaml's own placeholder, left for s deploy
    assert.equal(env.SANDBOX_URL, '${resources.sandbox.output.url.system_url}', 'resolved by s deploy once the sandbox exists');
    assert.equal(env.SANDBOX_SESSION_MODE, 'fc');
    assert.equal(env.SANDBOX_FUNCTION_NAME, sandbox.functionName);
    assert.equal(env.SANDBOX_SESSION_HEADER, sandbox.sessionAffinityConfig.affinityHeaderFieldName);
    assert.equal(env.SANDBOX_SESSION_TTL_SECONDS, String(sandbox.sessionAffinityConfig.sessionTTLInSeconds));
    assert.equal(env.SANDBOX_SESSION_IDLE_SECONDS, String(sandbox.sessionAffinityConfig.sessionIdleTimeoutInSeconds));
    assert.equal(env.CONTEXT_SECRET, DEPLOY_ENV.CONTEXT_SECRET);
    assert.equal(env.MCP_AUTH_TOKEN, DEPLOY_ENV.MCP_AUTH_TOKEN);
    // OAuth is off unless the deploy environment sets it (empty values read as unset).
    assert.equal(env.MCP_OAUTH_ISSUER, '');
    assert.equal(env.MCP_MAX_CONTEXTS_PER_TENANT, '20');
  });

  test('deploy-time values come from the environment', async () => {
    const custom = await renderServerlessYaml(ROOT, {
      HOME: home,
      ...DEPLOY_ENV,
      REGION: 'cn-shanghai',
      SANDBOX_FUNCTION_NAME: 'my-sandbox',
      SANDBOX_IMAGE: 'registry.cn-shanghai.aliyuncs.com/me/ci:1',
      SANDBOX_SESSION_HEADER: 'x-my-session',
      SANDBOX_SESSION_TTL_SECONDS: '7200',
      MCP_MEMORY_MB: '512',
      MCP_CPU: '0.5',
      MCP_PUBLIC_URL: 'https://ci.example.com',
      MCP_OAUTH_ISSUER: 'https://example.aliyunidaas.com/api/v2/app_x/oidc',
      MCP_OAUTH_SCOPES: 'mcp:tools',
    });
    const sandbox = custom.resources.sandbox!.props;
    const mcp = custom.resources.mcp!.props;
    assert.equal(sandbox.region, 'cn-shanghai');
    assert.equal(sandbox.customContainerConfig.image, 'registry.cn-shanghai.aliyuncs.com/me/ci:1');
    assert.equal(sandbox.sessionAffinityConfig.sessionTTLInSeconds, 7200);
    assert.deepEqual(mcp.layers, ['acs:fc:cn-shanghai:official:layers/Nodejs20/versions/3']);
    assert.equal(mcp.memorySize, 512);
    assert.equal(mcp.environmentVariables.SANDBOX_FUNCTION_NAME, 'my-sandbox');
    assert.equal(mcp.environmentVariables.SANDBOX_SESSION_HEADER, 'x-my-session');
    assert.equal(mcp.environmentVariables.SANDBOX_SESSION_TTL_SECONDS, '7200');
    assert.equal(mcp.environmentVariables.MCP_PUBLIC_URL, 'https://ci.example.com');
    assert.equal(mcp.environmentVariables.MCP_OAUTH_ISSUER, 'https://example.aliyunidaas.com/api/v2/app_x/oidc');
    assert.equal(mcp.environmentVariables.MCP_OAUTH_SCOPES, 'mcp:tools');
    assert.equal(validate(mcp), true, JSON.stringify(validate.errors));
  });

  test('a deploy without CONTEXT_SECRET, MCP_AUTH_TOKEN or SANDBOX_API_TOKEN stops, naming the variable', async () => {
    for (const name of ['CONTEXT_SECRET', 'MCP_AUTH_TOKEN', 'SANDBOX_API_TOKEN'] as const) {
      const env: Record<string, string> = { HOME: home, ...DEPLOY_ENV };
      delete env[name];
      await assert.rejects(renderServerlessYaml(ROOT, env), new RegExp(`env\\('${name}'\\) not found`));
    }
  });

  test('the RAM policy grants the Session API and invoking one function, nothing else', async () => {
    const policy = JSON.parse(await readFile(join(ROOT, 'infra/ram-policy.json'), 'utf8')) as {
      Statement: { Effect: string; Action: string[]; Resource: string | string[] }[];
    };
    const actions = policy.Statement.flatMap((s) => s.Action).sort();
    assert.deepEqual(actions, ['fc:CreateSession', 'fc:DeleteSession', 'fc:InvokeFunction', 'fc:ListSessions']);
    assert.ok(policy.Statement.every((s) => s.Effect === 'Allow'));
    const invoke = policy.Statement.find((s) => s.Action.includes('fc:InvokeFunction'))!;
    assert.deepEqual(invoke.Resource, ['acs:fc:<region>:<account-id>:functions/<sandbox-function-name>']);
  });

  test('a deploy uploads the built dist/ and nothing else: no node_modules, sources, tests, benches, .git or secrets', async () => {
    // s.yaml's pre-deploy action builds before fc3 zips the code folder.
    await buildBundle();
    const uploaded = await uploadedFiles(ROOT);
    assert.ok(uploaded.includes('dist/fc.js'), `the bundle is uploaded: ${uploaded.join(', ')}`);
    assert.deepEqual(
      uploaded.filter((file) => !file.startsWith('dist/')),
      [],
      'only dist/',
    );
    // Not vacuous: these are in the tree the deploy walks, and stay home.
    for (const kept of [
      'node_modules/typescript/package.json',
      'node_modules/zeromq/package.json',
      'src/mcp-server/app.ts',
      'test',
      'bench',
      '.git',
      's.yaml',
      'package.json',
    ]) {
      assert.ok(existsSync(join(ROOT, kept)), `${kept} is in the tree`);
      assert.ok(!uploaded.some((file) => file === kept || file.startsWith(`${kept}/`)), `${kept} is not uploaded`);
    }
  });
});
