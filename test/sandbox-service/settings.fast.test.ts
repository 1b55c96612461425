/** SANDBOX_* variables: defaults, parsing, and one-line errors naming the variable. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/mcp-server/config.ts';
import { ConfigError } from '../../src/shared/cli.ts';
import { CONTEXT_START_TIMEOUT_SECONDS } from '../../src/protocol/limits.ts';
import {
  SandboxOptionsError,
  parseSandboxEnv,
  parseSandboxOptions,
  sandboxEnvName,
  sandboxOptionsFromEnv,
} from '../../src/sandbox-service/settings.ts';

describe('parseSandboxEnv', () => {
  test('gives the documented defaults for an empty environment', () => {
    const options = parseSandboxEnv({});
    assert.equal(options.host, '127.0.0.1');
    assert.equal(options.port, 5001);
    assert.equal(options.sessionHeader, 'x-ci-session-id');
    assert.equal(options.allowNetwork, false);
    assert.equal(options.maxContexts, 100);
    assert.equal(options.memoryMb, 2048);
    assert.equal(options.pidsMax, 256);
    assert.equal(options.diskMb, 1024);
    assert.equal(options.workspaceRoot, undefined);
  });

  test('reads every variable', () => {
    const options = parseSandboxEnv({
      SANDBOX_HOST: '0.0.0.0',
      SANDBOX_PORT: '0',
      SANDBOX_API_TOKEN: 'a-token-of-some-length',
      SANDBOX_SESSION_HEADER: 'X-My-Session',
      SANDBOX_ALLOW_NETWORK: 'true',
      SANDBOX_JAIL: ' Off ',
      SANDBOX_MEMORY_MB: '1024',
      SANDBOX_PIDS_MAX: '64',
      SANDBOX_DISK_MB: '0',
      SANDBOX_CPUS: '0.5',
      SANDBOX_TENANT_CPUS: '0.75',
      SANDBOX_MAX_CONTEXTS: '5',
      SANDBOX_EXECUTE_TIMEOUT_SECONDS: '10',
      SANDBOX_MAX_EXECUTE_TIMEOUT_SECONDS: '20',
      SANDBOX_OUTPUT_LIMIT_BYTES: '1000',
      SANDBOX_MAX_KERNEL_MESSAGE_BYTES: '3000000',
      SANDBOX_MAX_OUTPUT_EVENTS: '300',
      SANDBOX_MAX_QUEUED_RUNS: '2',
      SANDBOX_MAX_SESSION_RUNS: '6',
      SANDBOX_QUEUED_CODE_MB: '12',
      SANDBOX_IDLE_TIMEOUT_SECONDS: '0',
      SANDBOX_POOL_SIZE: '0',
      SANDBOX_WORKSPACE_ROOT: '/srv/ws',
      SANDBOX_KEEPALIVE_SECONDS: '2',
      SANDBOX_MAX_UPLOAD_MB: '7',
      SANDBOX_MAX_READ_MB: '9',
      SANDBOX_MAX_BODY_BYTES: '65536',
      SANDBOX_UID_BASE: '300000',
      SANDBOX_PIP_INDEX_URL: 'https://pypi.internal.test/simple',
      SANDBOX_NPM_REGISTRY: 'http://npm.internal.test:4873/',
      SANDBOX_EGRESS_ALLOW: 'PyPI.org, *.example.com',
      SANDBOX_EGRESS_PRIVATE_HOSTS: '127.0.0.1',
      SANDBOX_EGRESS_HEADERS: '{"API.example.com": {"Authorization": "Bearer x"}}',
      SANDBOX_EGRESS_ADVISORY: 'yes',
    });
    assert.deepEqual(
      { ...options },
      {
        host: '0.0.0.0',
        port: 0,
        apiToken: 'a-token-of-some-length',
        sessionHeader: 'x-my-session',
        allowNetwork: true,
        egressAllow: ['pypi.org', '*.example.com'],
        egressPrivateHosts: ['127.0.0.1'],
        egressHeaders: { 'api.example.com': { Authorization: 'Bearer x' } },
        egressAdvisory: true,
        jail: 'off',
        memoryMb: 1024,
        pidsMax: 64,
        diskMb: 0,
        cpus: 0.5,
        tenantCpus: 0.75,
        maxContexts: 5,
        executeTimeoutSeconds: 10,
        maxExecuteTimeoutSeconds: 20,
        outputLimitBytes: 1000,
        kernelMessageBytes: 3_000_000,
        maxOutputEvents: 300,
        maxQueuedRuns: 2,
        maxSessionRuns: 6,
        queuedCodeMb: 12,
        // No variable: the MCP side waits for the same figure (protocol/limits.ts).
        contextStartTimeoutSeconds: CONTEXT_START_TIMEOUT_SECONDS,
        idleTimeoutSeconds: 0,
        poolSize: 0,
        workspaceRoot: '/srv/ws',
        keepaliveSeconds: 2,
        maxUploadMb: 7,
        maxReadMb: 9,
        maxBodyBytes: 65536,
        uidBase: 300_000,
        pipIndexUrl: 'https://pypi.internal.test/simple',
        npmRegistry: 'http://npm.internal.test:4873/',
      },
    );
  });

  test('SANDBOX_KERNEL_MEMORY_MB still sets the memory limit; SANDBOX_MEMORY_MB wins over it', () => {
    assert.equal(parseSandboxEnv({ SANDBOX_KERNEL_MEMORY_MB: '512' }).memoryMb, 512);
    assert.equal(parseSandboxEnv({ SANDBOX_KERNEL_MEMORY_MB: '512', SANDBOX_MEMORY_MB: '768' }).memoryMb, 768);
  });

  test('a bad value is a one-line error naming the variable', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ SANDBOX_PORT: 'abc' }, /^SANDBOX_PORT: expected a number \(got "abc"\)$/],
      [{ SANDBOX_PORT: '70000' }, /^SANDBOX_PORT: /],
      [{ SANDBOX_ALLOW_NETWORK: 'maybe' }, /^SANDBOX_ALLOW_NETWORK: expected true or false/],
      [{ SANDBOX_MAX_CONTEXTS: '0' }, /^SANDBOX_MAX_CONTEXTS: /],
      [{ SANDBOX_PIDS_MAX: '-1' }, /^SANDBOX_PIDS_MAX: /],
      [{ SANDBOX_CPUS: '0.001' }, /^SANDBOX_CPUS: /],
      [{ SANDBOX_JAIL: 'no' }, /^SANDBOX_JAIL: .*expected one of "auto"\|"on"\|"off" \(got "no"\)$/],
      [{ SANDBOX_MEMORY_MB: '1.5' }, /^SANDBOX_MEMORY_MB: /],
      [{ SANDBOX_SESSION_HEADER: 'bad header' }, /^SANDBOX_SESSION_HEADER: must be 5–40 letters, digits or "-"/],
      [{ SANDBOX_SESSION_HEADER: 'x-fc-session' }, /^SANDBOX_SESSION_HEADER: must not start with "x-fc-"/],
      [{ SANDBOX_HOST: '0.0.0.0' }, /^SANDBOX_API_TOKEN: a sandbox bound beyond loopback needs an API token/],
      [{ SANDBOX_API_TOKEN: 'short' }, /^SANDBOX_API_TOKEN: must be at least 16 characters/],
      [{ SANDBOX_EXECUTE_TIMEOUT_SECONDS: '100', SANDBOX_MAX_EXECUTE_TIMEOUT_SECONDS: '10' }, /^SANDBOX_EXECUTE_TIMEOUT_SECONDS: /],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => parseSandboxEnv(env),
        (error: unknown) => error instanceof SandboxOptionsError && message.test(error.message) && !error.message.includes('\n'),
        JSON.stringify(env),
      );
    }
  });
});

test('npm start reads SANDBOX_SESSION_HEADER once for both sides: the MCP side and the sandbox accept and refuse the same names', () => {
  const names = [
    'x-ci-session-id',
    'X-My-Session',
    'abcd',
    'abcde',
    'x-fc-session',
    'X-FC-Affinity',
    'bad header',
    '1-session',
    `x${'-a'.repeat(20)}`,
  ];
  for (const name of names) {
    const sandbox = accepts(() => parseSandboxEnv({ SANDBOX_SESSION_HEADER: name }), SandboxOptionsError);
    const mcp = accepts(() => loadConfig({ SANDBOX_SESSION_HEADER: name }, []), ConfigError);
    assert.equal(sandbox, mcp, `${name}: sandbox ${sandbox}, MCP side ${mcp}`);
  }
  assert.equal(
    parseSandboxEnv({ SANDBOX_SESSION_HEADER: 'X-My-Session' }).sessionHeader,
    loadConfig({ SANDBOX_SESSION_HEADER: 'X-My-Session' }, []).sessionHeader,
  );
});

test('npm start hands the sandbox the SANDBOX_* variables as npm run sandbox reads them, errors included', () => {
  const envs: Array<Record<string, string>> = [
    {},
    { SANDBOX_PORT: '0', SANDBOX_ALLOW_NETWORK: 'YES', SANDBOX_MEMORY_MB: ' 512 ', SANDBOX_POOL_SIZE: '' },
    { SANDBOX_KERNEL_MEMORY_MB: '256', SANDBOX_MEMORY_MB: '768', SANDBOX_WORKSPACE_ROOT: '/srv/ws' },
    { SANDBOX_PORT: 'abc' },
    { SANDBOX_PORT: '70000' },
    { SANDBOX_ALLOW_NETWORK: 'maybe' },
    { SANDBOX_MAX_CONTEXTS: '0' },
    { SANDBOX_EXECUTE_TIMEOUT_SECONDS: '100', SANDBOX_MAX_EXECUTE_TIMEOUT_SECONDS: '10' },
  ];
  for (const env of envs) {
    const alone = outcome(() => parseSandboxEnv(env));
    const viaConfig = outcome(() => parseSandboxOptions(sandboxOptionsFromEnv(loadConfig(env, []).embeddedSandbox), sandboxEnvName));
    assert.deepEqual(viaConfig, alone, JSON.stringify(env));
  }
});

test('MCP_ALLOW_UNAUTHENTICATED and SANDBOX_ALLOW_NETWORK read the same words as booleans', () => {
  for (const text of ['true', 'TRUE', '1', 'yes', 'false', '0', 'No', '', 'maybe', 'on']) {
    const sandbox = outcome(() => parseSandboxEnv({ SANDBOX_ALLOW_NETWORK: text }).allowNetwork);
    const mcp = outcome(() => loadConfig({ MCP_ALLOW_UNAUTHENTICATED: text }, []).allowUnauthenticated);
    assert.equal(typeof sandbox === 'string', typeof mcp === 'string', `${text}: sandbox ${sandbox}, MCP side ${mcp}`);
    if (typeof sandbox !== 'string') assert.equal(sandbox, mcp, text);
  }
});

test('an error about a secret variable does not repeat its value', () => {
  for (const [env, name] of [
    [{ CONTEXT_SECRET: 'short-secret' }, 'CONTEXT_SECRET'],
    [{ SANDBOX_API_TOKEN: 'short-secret', SANDBOX_PORT: 'x' }, 'SANDBOX_PORT'],
  ] as const) {
    assert.throws(
      () => loadConfig(env, []),
      (error: unknown) => error instanceof ConfigError && error.message.startsWith(`${name}: `) && !error.message.includes('short-secret'),
    );
  }
  assert.throws(
    () => parseSandboxEnv({ SANDBOX_API_TOKEN: 'short-secret' }),
    (error: unknown) => error instanceof SandboxOptionsError && !error.message.includes('short-secret'),
  );
  // The egress headers hold API keys: a malformed value is named, never repeated.
  for (const value of [
    '{"api.example.com": {"Authorization": "short-secret\\n"}}',
    '{"https://x": {"A": "short-secret"}}',
    'short-secret',
  ]) {
    assert.throws(
      () => parseSandboxEnv({ SANDBOX_EGRESS_HEADERS: value }),
      (error: unknown) =>
        error instanceof SandboxOptionsError &&
        error.message.startsWith('SANDBOX_EGRESS_HEADERS: ') &&
        !error.message.includes('short-secret'),
    );
  }
  assert.throws(
    () => parseSandboxEnv({ SANDBOX_EGRESS_ALLOW: 'pypi.org,https://evil.com/' }),
    (error: unknown) =>
      error instanceof SandboxOptionsError && /SANDBOX_EGRESS_ALLOW: "https:\/\/evil\.com\/" is not a host pattern/.test(error.message),
  );
});

test('SANDBOX_SESSION_ID takes exactly the values the sandbox accepts as a session header value', () => {
  for (const [id, ok] of [
    ['default', true],
    ['a.b_c-1', true],
    ['_default', false],
    ['-x', false],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['a b', false],
  ] as const) {
    assert.equal(
      accepts(() => loadConfig({ SANDBOX_SESSION_ID: id }, []), ConfigError),
      ok,
      id,
    );
  }
});

/** The value, or the error's message. */
function outcome(read: () => unknown): unknown {
  try {
    return read();
  } catch (error) {
    assert.ok(error instanceof SandboxOptionsError || error instanceof ConfigError, String(error));
    return error.message;
  }
}

function accepts(parse: () => unknown, expected: new (...args: never[]) => Error): boolean {
  try {
    parse();
    return true;
  } catch (error) {
    assert.ok(error instanceof expected, String(error));
    return false;
  }
}
