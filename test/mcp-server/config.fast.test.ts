import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/mcp-server/config.ts';
import { ConfigError } from '../../src/shared/cli.ts';
import { MAX_RUN_TIMEOUT_SECONDS } from '../../src/protocol/limits.ts';

const SECRET = { CONTEXT_SECRET: 'sixteen-chars-or-more' };

test('defaults: http on 127.0.0.1:3000/mcp, sandbox at localhost:5001, direct mode', () => {
  const config = loadConfig({});
  assert.equal(config.transport, 'http');
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 3000);
  assert.equal(config.path, '/mcp');
  assert.equal(config.sandboxUrl, 'http://localhost:5001');
  assert.equal(config.sandboxUrlSetting, undefined);
  assert.equal(config.sessionMode, 'direct');
  assert.equal(config.sessionHeader, 'x-ci-session-id');
  assert.deepEqual(config.authTokens, []);
  assert.equal(config.contextSecretEphemeral, true, 'loopback without CONTEXT_SECRET gets a random one');
});

test('CLI flags mean the same as env and win over it', () => {
  const config = loadConfig({ MCP_PORT: '4000', LOG_LEVEL: 'warn' }, ['--port', '4001', '--path', '/x', '--sandbox-url', 'http://sb:1']);
  assert.equal(config.port, 4001);
  assert.equal(config.path, '/x');
  assert.equal(config.sandboxUrl, 'http://sb:1');
  assert.equal(config.logLevel, 'warn');
});

test('bad values give one line naming the variable', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ MCP_PORT: 'eighty' }, /^MCP_PORT: .*\(got "eighty"\)$/],
    [{ MCP_TRANSPORT: 'carrier-pigeon' }, /^MCP_TRANSPORT: /],
    [{ SANDBOX_URL: 'ftp://x' }, /^SANDBOX_URL: /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: /],
    [{ SANDBOX_SESSION_HEADER: 'x-fc-session' }, /^SANDBOX_SESSION_HEADER: .*x-fc-/],
    [{ CONTEXT_SECRET: 'short' }, /^CONTEXT_SECRET: .*16/],
    [{ MCP_AUTH_TOKEN: 'has space' }, /^MCP_AUTH_TOKEN: /],
  ];
  for (const [env, pattern] of cases) {
    assert.throws(
      () => loadConfig(env),
      (error: unknown) => error instanceof ConfigError && pattern.test(error.message) && !error.message.includes('\n'),
    );
  }
  assert.throws(() => loadConfig({}, ['--no-such-flag', '1']), ConfigError);
});

test('a non-loopback bind needs a token unless unauthenticated serving is explicit', () => {
  assert.throws(() => loadConfig({ MCP_HOST: '0.0.0.0', ...SECRET }), /MCP_AUTH_TOKEN: required when binding to 0\.0\.0\.0/);
  assert.equal(loadConfig({ MCP_HOST: '0.0.0.0', MCP_ALLOW_UNAUTHENTICATED: 'true', ...SECRET }).allowUnauthenticated, true);
  assert.deepEqual(
    loadConfig({ MCP_HOST: '0.0.0.0', MCP_AUTH_TOKEN: 'one, two', ...SECRET }).authTokens.map((t) => t.token),
    ['one', 'two'],
  );
});

test('CONTEXT_SECRET is required off loopback and in FC mode', () => {
  assert.throws(() => loadConfig({ MCP_HOST: '0.0.0.0', MCP_AUTH_TOKEN: 't' }), /ConfigError: CONTEXT_SECRET: required/);
  const given = loadConfig({ MCP_HOST: '0.0.0.0', MCP_AUTH_TOKEN: 't', ...SECRET });
  assert.equal(given.contextSecret, SECRET.CONTEXT_SECRET);
  assert.equal(given.contextSecretEphemeral, false);
});

test('FC session mode lists what it lacks, and builds FcSessionsSettings when complete', () => {
  assert.throws(
    () => loadConfig({ SANDBOX_SESSION_MODE: 'fc', ...SECRET, SANDBOX_URL: 'http://sb' }),
    /ConfigError: SANDBOX_FUNCTION_NAME, FC_REGION, FC_ACCOUNT_ID: required when SANDBOX_SESSION_MODE=fc$/,
  );
  const env = {
    SANDBOX_SESSION_MODE: 'fc',
    SANDBOX_FUNCTION_NAME: 'sandbox-fn',
    FC_REGION: 'cn-hangzhou',
    FC_ACCOUNT_ID: '123',
    SANDBOX_URL: 'https://sandbox.example',
    ...SECRET,
  };
  assert.throws(() => loadConfig({ ...env, ALIBABA_CLOUD_ACCESS_KEY_ID: 'id' }), /give both or neither/);
  const config = loadConfig({ ...env, SANDBOX_SESSION_TTL_SECONDS: '600' });
  assert.deepEqual(config.fc, {
    functionName: 'sandbox-fn',
    qualifier: 'LATEST',
    region: 'cn-hangzhou',
    accountId: '123',
    endpoint: undefined,
    protocol: 'https',
    sessionTTLInSeconds: 600,
    sessionIdleTimeoutInSeconds: 1800,
    credentials: undefined,
  });
});

test('an empty or blank variable means its default, as for the SANDBOX_* ones', () => {
  const config = loadConfig({ MCP_PORT: '', MCP_HOST: ' ', MCP_TRANSPORT: '', MCP_ALLOW_UNAUTHENTICATED: '' });
  assert.equal(config.port, 3000);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.transport, 'http');
  assert.equal(config.allowUnauthenticated, false);
});

test('every bad variable is named, in one line', () => {
  assert.throws(
    () => loadConfig({ MCP_PORT: 'eighty', LOG_LEVEL: 'loud' }),
    (error: unknown) =>
      error instanceof ConfigError && /^MCP_PORT: .*; LOG_LEVEL: .*\(got "loud"\)$/.test(error.message) && !error.message.includes('\n'),
  );
});

test('--session-header reaches the sandbox service as well as the MCP side', () => {
  const config = loadConfig({}, ['--session-header', 'X-My-Session']);
  assert.equal(config.sessionHeader, 'x-my-session');
  assert.equal(config.embeddedSandbox.SANDBOX_SESSION_HEADER, 'x-my-session');
});

test('RUN_TIMEOUT_SECONDS is at most what run_code lets a call ask for; MCP_MAX_CONTEXTS_PER_TENANT at least 1, as the docs say', () => {
  assert.equal(loadConfig({ RUN_TIMEOUT_SECONDS: String(MAX_RUN_TIMEOUT_SECONDS) }).runTimeoutSeconds, MAX_RUN_TIMEOUT_SECONDS);
  assert.throws(() => loadConfig({ RUN_TIMEOUT_SECONDS: '99999' }), /ConfigError: RUN_TIMEOUT_SECONDS: .*3600/);
  assert.throws(() => loadConfig({ MCP_MAX_CONTEXTS_PER_TENANT: '0' }), /ConfigError: MCP_MAX_CONTEXTS_PER_TENANT: /);
});
