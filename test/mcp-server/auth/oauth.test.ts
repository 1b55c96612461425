// Callers as tenants, and the OAuth 2.1 resource server: the app
// served on a free loopback port, an authorization-server stand-in on another (keys
// made with jose here; metadata and JWKS served by node:http), the official MCP client
// where a client is involved, raw requests where it would not send what we test.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  Client,
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { createApp } from '../../../src/mcp-server/app.ts';
import { createAppDeps } from '../../../src/mcp-server/app-deps.ts';
import { createJwtAccessTokens, type JwtAccessTokenOptions } from '../../../src/mcp-server/auth/jwt-access-tokens.ts';
import { parseStaticTokens, unnamedTenant } from '../../../src/mcp-server/auth/static-tokens.ts';
import { loadConfig } from '../../../src/mcp-server/config.ts';
import { ConfigError } from '../../../src/shared/cli.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { TOOLS } from '../../../src/mcp-server/server/code-interpreter-tools.ts';
import { createToolCatalog } from '../../../src/mcp-server/tools/tool-catalog.ts';
import { defineTool, toolResult } from '../../../src/mcp-server/tools/tool-definition.ts';
import { listenHttp, type HttpListener } from '../../../src/shared/listen-http.ts';
import { z } from 'zod';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { eventually } from '../../support/eventually.ts';
import { call, rawPost, SECRET, startMcp, startTestSandbox, structured } from '../../support/mcp-harness.ts';
import { freePort } from '../../support/processes.ts';

type Key = { kid: string; privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; jwk: JWK };

async function makeKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/** An authorization server stand-in: its metadata (RFC 8414, or OIDC only) and a JWKS it can rotate. */
interface IssuerStandIn {
  issuer: string;
  keys: Key[];
  jwksFetches: number;
  close(): Promise<void>;
}

async function startIssuerStandIn(keys: Key[], { metadataAt = 'oauth' }: { metadataAt?: 'oauth' | 'oidc' } = {}): Promise<IssuerStandIn> {
  const standIn = { issuer: '', keys, jwksFetches: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const metadata = {
      issuer: standIn.issuer,
      jwks_uri: `${standIn.issuer}/jwks`,
      authorization_endpoint: `${standIn.issuer}/authorize`,
      token_endpoint: `${standIn.issuer}/token`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
    };
    if (req.url === '/.well-known/oauth-authorization-server' && metadataAt === 'oauth') return json(200, metadata);
    if (req.url === '/.well-known/openid-configuration' && metadataAt === 'oidc') {
      return json(200, { ...metadata, subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['ES256'] });
    }
    if (req.url === '/jwks') {
      standIn.jwksFetches++;
      return json(200, { keys: standIn.keys.map((k) => k.jwk) });
    }
    json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  standIn.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  standIn.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return standIn;
}

const now = () => Math.floor(Date.now() / 1000);

interface Claims extends JWTPayload {
  scope?: string;
}

async function mint(key: Key, claims: Claims, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt', ...header }).sign(key.privateKey);
}

const SCOPE = 'mcp:tools';
const STATIC = 'alice:alice-token-0123,bob:bob-token-4567,unnamed-token-89ab';

interface Served {
  url: string;
  origin: string;
  lines: Record<string, unknown>[];
  close(): Promise<void>;
}

/** A probe beside the real tools: answers with the tenant its ToolDeps carry (phase 2 builds on ToolDeps.tenant). */
const whoami = defineTool({
  name: 'whoami',
  title: 'Who am I',
  description: 'Test probe: the tenant the tool sees.',
  inputSchema: z.object({}),
  outputSchema: z.object({ id: z.string(), source: z.string() }),
  annotations: { readOnlyHint: true },
  async handler(_args, deps) {
    return toolResult({ id: deps.tenant.id, source: deps.tenant.source }, deps.tenant.id);
  },
});

/** createApp on a free loopback port, configured as a deployment would be (loadConfig), with its own verifier timings. */
async function serve(env: Record<string, string>, verifier: Partial<JwtAccessTokenOptions> = {}): Promise<Served> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    MCP_HOST: '127.0.0.1',
    MCP_PORT: String(port),
    CONTEXT_SECRET: SECRET,
    SANDBOX_URL: 'http://127.0.0.1:9/',
    ...(env.MCP_OAUTH_ISSUER ? { MCP_PUBLIC_URL: origin } : {}),
    ...env,
  });
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const deps = createAppDeps(config, logger);
  deps.catalog = createToolCatalog([...TOOLS, whoami]);
  if (config.oauth) {
    deps.accessTokens = createJwtAccessTokens({ issuer: config.oauth.issuer, audience: config.oauth.audience, ...verifier });
  }
  const listener: HttpListener = await listenHttp(createApp(deps), '127.0.0.1', port);
  return { url: `${origin}/mcp`, origin, lines, close: () => listener.close() };
}

async function clientWith(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'oauth-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: { token: async () => token } }));
  return client;
}

const LIST = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';

/** The same request on /mcp (header) and on /invoke (the token in the event), as FC events carry it. */
async function bothPaths(served: Served, token: string): Promise<Array<[string, Response]>> {
  return [
    ['/mcp', await rawPost(served.url, LIST, { authorization: `Bearer ${token}` })],
    ['/invoke (event)', await rawPost(`${served.origin}/invoke`, JSON.stringify({ ...JSON.parse(LIST), auth_token: token }))],
    ['/invoke (header)', await rawPost(`${served.origin}/invoke`, LIST, { authorization: `Bearer ${token}` })],
  ];
}

function requestLines(served: Served): Record<string, unknown>[] {
  return served.lines.filter((l) => l.msg === 'mcp request');
}

describe('OAuth 2.1 resource server against an authorization-server stand-in', () => {
  let keyA: Key;
  let issuer: IssuerStandIn;
  let served: Served;
  let metadataUrl: string;
  const claims = (extra: Claims = {}): Claims => ({
    iss: issuer.issuer,
    aud: served.url,
    sub: 'user-123',
    scope: `openid ${SCOPE}`,
    iat: now(),
    exp: now() + 600,
    ...extra,
  });

  before(async () => {
    keyA = await makeKey('key-a');
    issuer = await startIssuerStandIn([keyA]);
    served = await serve({ MCP_OAUTH_ISSUER: issuer.issuer, MCP_OAUTH_SCOPES: SCOPE, MCP_AUTH_TOKEN: STATIC });
    metadataUrl = `${served.origin}/.well-known/oauth-protected-resource/mcp`;
  });
  after(async () => {
    await served?.close();
    await issuer?.close();
  });

  test('the protected-resource metadata (RFC 9728) validates with the official client, at both well-known URLs', async () => {
    const document = await discoverOAuthProtectedResourceMetadata(served.url);
    assert.equal(document.resource, served.url);
    assert.deepEqual(document.authorization_servers, [issuer.issuer]);
    assert.deepEqual(document.scopes_supported, [SCOPE]);
    assert.deepEqual(document.bearer_methods_supported, ['header']);
    const root = await fetch(`${served.origin}/.well-known/oauth-protected-resource`);
    assert.equal(root.status, 200);
    assert.deepEqual(await root.json(), await (await fetch(metadataUrl)).json());
    assert.equal((await fetch(metadataUrl, { method: 'POST' })).status, 405);
  });

  test('without a credential: 401 whose challenge names the metadata and the scope, on /mcp and /invoke', async () => {
    for (const response of [await rawPost(served.url, LIST), await rawPost(`${served.origin}/invoke`, LIST)]) {
      assert.equal(response.status, 401, response.url);
      const challenge = extractWWWAuthenticateParams(response);
      assert.equal(challenge.resourceMetadataUrl?.href, metadataUrl, response.url);
      assert.equal(challenge.scope, SCOPE);
      assert.equal(challenge.error, undefined, 'no error code when no credential was sent (RFC 6750 §3.1)');
      const body = (await response.json()) as { error: { code: number } };
      assert.equal(body.error.code, -32001);
    }
  });

  test('a valid token from the stand-in works with the official client; its subject is the tenant, the token is in no log line', async () => {
    const token = await mint(keyA, claims());
    const from = served.lines.length;
    const client = await clientWith(served.url, token);
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'run_code'));
    } finally {
      await client.close();
    }
    for (const [path, response] of await bothPaths(served, token)) assert.equal(response.status, 200, `${path}: ${await response.text()}`);
    const tenants = served.lines
      .slice(from)
      .filter((l) => l.msg === 'mcp request')
      .map((l) => l.tenant);
    assert.ok(tenants.length >= 4 && tenants.every((t) => t === 'user-123'), JSON.stringify(tenants));
    assert.ok(!JSON.stringify(served.lines).includes(token.split('.')[2]!), 'no token in the logs');
  });

  test('the tools see the tenant (ToolDeps.tenant): OAuth subject, static token name, on /mcp, /invoke and both eras', async () => {
    const jwt = await mint(keyA, claims());
    for (const [token, id, source] of [
      [jwt, 'user-123', 'oauth'],
      ['alice-token-0123', 'alice', 'token'],
    ] as const) {
      for (const era of ['modern', 'legacy'] as const) {
        const client = new Client(
          { name: 'oauth-test', version: '1.0.0' },
          { versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } },
        );
        await client.connect(new StreamableHTTPClientTransport(new URL(served.url), { authProvider: { token: async () => token } }));
        try {
          assert.deepEqual(structured(await call(client, 'whoami')), { id, source }, `${source} ${era}`);
        } finally {
          await client.close();
        }
      }
      const invoked = await rawPost(`${served.origin}/invoke`, JSON.stringify({ tool: 'whoami', arguments: {}, auth_token: token }));
      assert.deepEqual(((await invoked.json()) as { structuredContent: unknown }).structuredContent, { id, source });
    }
  });

  test('bad tokens are refused with the right challenge: expired, not yet valid, wrong audience, wrong issuer, unknown kid, bad signature, alg none, HS256, no sub, a sub that is no non-empty string', async () => {
    const stranger = await makeKey('key-a'); // claims the issuer's kid, signs with another key
    const unknown = await makeKey('key-unknown');
    const cases: Array<[string, string, RegExp]> = [
      ['expired', await mint(keyA, claims({ iat: now() - 3600, exp: now() - 600 })), /expired/],
      ['not yet valid', await mint(keyA, claims({ nbf: now() + 600 })), /not valid yet/],
      ['wrong audience', await mint(keyA, claims({ aud: 'https://elsewhere.example/mcp' })), /not issued for this resource/],
      ['wrong issuer', await mint(keyA, claims({ iss: 'https://evil.example' })), /another issuer/],
      ['unknown kid', await mint(unknown, claims()), /not among the issuer's keys/],
      ['bad signature', await mint(stranger, claims()), /signature does not verify/],
      ['alg none', new UnsecuredJWT(claims()).encode(), /not a valid JWT|algorithm/],
      [
        'HS256 keyed with the public key',
        await new SignJWT(claims())
          .setProtectedHeader({ alg: 'HS256', kid: 'key-a' })
          .sign(new TextEncoder().encode(JSON.stringify(keyA.jwk))),
        /algorithm|not among/,
      ],
      ['no sub', await mint(keyA, { ...claims(), sub: undefined }), /"sub" claim/],
      // Each would otherwise be a tenant: "[object Object]", "12345", "".
      ['sub an object', await mint(keyA, { ...claims(), sub: { a: 1 } as unknown as string }), /"sub" claim must be a non-empty string/],
      ['sub a number', await mint(keyA, { ...claims(), sub: 12345 as unknown as string }), /"sub" claim must be a non-empty string/],
      ['sub empty', await mint(keyA, { ...claims(), sub: '' }), /"sub" claim must be a non-empty string/],
      ['not a JWT at all', 'just-some-opaque-token', /not a valid JWT/],
    ];
    for (const [name, token, reason] of cases) {
      for (const [path, response] of await bothPaths(served, token)) {
        const where = `${name} on ${path}`;
        assert.equal(response.status, 401, where);
        const challenge = extractWWWAuthenticateParams(response);
        assert.equal(challenge.error, 'invalid_token', where);
        assert.equal(challenge.resourceMetadataUrl?.href, metadataUrl, where);
        const body = (await response.json()) as { jsonrpc: string; error: { code: number; message: string } };
        assert.equal(body.error.code, -32001, where);
        assert.match(body.error.message, reason, `${where}: ${body.error.message}`);
      }
    }
  });

  test('a token without the required scope gets 403 insufficient_scope naming the scope', async () => {
    const token = await mint(keyA, claims({ scope: 'openid profile' }));
    for (const [path, response] of await bothPaths(served, token)) {
      assert.equal(response.status, 403, path);
      const challenge = extractWWWAuthenticateParams(response);
      assert.equal(challenge.error, 'insufficient_scope', path);
      assert.equal(challenge.scope, SCOPE, path);
      assert.equal(challenge.resourceMetadataUrl?.href, metadataUrl, path);
    }
    // `scp` as a list (Azure AD, Okta) counts too.
    const scp = await mint(keyA, { ...claims({ scope: undefined }), scp: [SCOPE] });
    assert.equal((await rawPost(served.url, LIST, { authorization: `Bearer ${scp}` })).status, 200);
  });

  test('unknown kids refetch the JWKS at most once per cooldown', async () => {
    assert.equal((await rawPost(served.url, LIST, { authorization: `Bearer ${await mint(keyA, claims())}` })).status, 200);
    const before = issuer.jwksFetches;
    for (let i = 0; i < 5; i++) {
      const token = await mint(await makeKey(`random-${i}`), claims());
      assert.equal((await rawPost(served.url, LIST, { authorization: `Bearer ${token}` })).status, 401);
    }
    assert.ok(issuer.jwksFetches - before <= 1, `${issuer.jwksFetches - before} fetches for 5 unknown kids`);
  });

  test('named static tokens give the named tenant beside OAuth; an unnamed one a hash, never the token', async () => {
    for (const [token, tenant] of <Array<[string, string]>>[
      ['alice-token-0123', 'alice'],
      ['bob-token-4567', 'bob'],
      ['unnamed-token-89ab', unnamedTenant('unnamed-token-89ab')],
    ]) {
      const from = served.lines.length;
      for (const [path, response] of await bothPaths(served, token)) assert.equal(response.status, 200, path);
      const tenants = served.lines
        .slice(from)
        .filter((l) => l.msg === 'mcp request')
        .map((l) => l.tenant);
      assert.deepEqual(tenants, [tenant, tenant, tenant]);
    }
    assert.match(unnamedTenant('unnamed-token-89ab'), /^token-[0-9a-f]{12}$/);
    assert.ok(!JSON.stringify(served.lines).includes('unnamed-token-89ab'));
    assert.ok(!JSON.stringify(served.lines).includes('alice-token-0123'));
  });

  test('/invoke refuses a request whose header and event name different tenants, and a batch with one bad token', async () => {
    const mixed = await rawPost(`${served.origin}/invoke`, JSON.stringify({ ...JSON.parse(LIST), auth_token: 'bob-token-4567' }), {
      authorization: 'Bearer alice-token-0123',
    });
    assert.equal(mixed.status, 400);
    const batch = [
      { ...JSON.parse(LIST), auth_token: await mint(keyA, claims()) },
      { ...JSON.parse(LIST), id: 2, auth_token: await mint(keyA, claims({ exp: now() - 600 })) },
    ];
    assert.equal((await rawPost(`${served.origin}/invoke`, JSON.stringify(batch))).status, 401);
  });
});

describe('issuer stand-in: key rotation, OIDC-only metadata, an unreachable issuer', () => {
  test('a key rotation at the issuer stand-in is picked up; the retired key stops working', async () => {
    const keyA = await makeKey('2026-a');
    const keyB = await makeKey('2026-b');
    const issuer = await startIssuerStandIn([keyA]);
    // No cooldown: the rotation is seen on the first token with the new kid, without waiting.
    const served = await serve({ MCP_OAUTH_ISSUER: issuer.issuer }, { jwksCooldownMs: 0 });
    try {
      const claims = { iss: issuer.issuer, aud: served.url, sub: 'rotating-user', exp: now() + 600 };
      assert.equal((await rawPost(served.url, LIST, { authorization: `Bearer ${await mint(keyA, claims)}` })).status, 200);
      issuer.keys = [keyB];
      const client = await clientWith(served.url, await mint(keyB, claims));
      try {
        assert.ok((await client.listTools()).tools.length > 0);
      } finally {
        await client.close();
      }
      assert.equal((await rawPost(served.url, LIST, { authorization: `Bearer ${await mint(keyA, claims)}` })).status, 401);
    } finally {
      await served.close();
      await issuer.close();
    }
  });

  test('an issuer stand-in that publishes only /.well-known/openid-configuration is found', async () => {
    const key = await makeKey('oidc');
    const issuer = await startIssuerStandIn([key], { metadataAt: 'oidc' });
    const served = await serve({ MCP_OAUTH_ISSUER: issuer.issuer, MCP_OAUTH_AUDIENCE: 'api://code-interpreter' });
    try {
      const token = await mint(key, { iss: issuer.issuer, aud: 'api://code-interpreter', sub: 'oidc-user', exp: now() + 600 });
      assert.equal((await rawPost(served.url, LIST, { authorization: `Bearer ${token}` })).status, 200);
      assert.equal(requestLines(served).at(-1)?.tenant, 'oidc-user');
    } finally {
      await served.close();
      await issuer.close();
    }
  });

  test('an unreachable issuer: 503 (not a 401 that would make the client drop a good token), static tokens still work', async () => {
    const gone = await freePort();
    const served = await serve({ MCP_OAUTH_ISSUER: `http://127.0.0.1:${gone}`, MCP_AUTH_TOKEN: 'ops:ops-token-1' });
    try {
      const key = await makeKey('k');
      const token = await mint(key, { iss: `http://127.0.0.1:${gone}`, aud: served.url, sub: 'u', exp: now() + 600 });
      const response = await rawPost(served.url, LIST, { authorization: `Bearer ${token}` });
      assert.equal(response.status, 503);
      assert.match(((await response.json()) as { error: { message: string } }).error.message, /authorization server/);
      assert.equal((await rawPost(served.url, LIST, { authorization: 'Bearer ops-token-1' })).status, 200);
      assert.ok(served.lines.some((l) => l.msg === 'access token not verifiable'));
    } finally {
      await served.close();
    }
  });
});

describe('tenants without OAuth', () => {
  test('unauthenticated on loopback everything works as before, as the anonymous tenant', async () => {
    const served = await serve({});
    try {
      assert.equal((await fetch(`${served.origin}/.well-known/oauth-protected-resource`)).status, 404);
      const client = new Client({ name: 'anon', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(served.url)));
      try {
        assert.ok((await client.listTools()).tools.length > 0);
      } finally {
        await client.close();
      }
      assert.equal((await rawPost(`${served.origin}/invoke`, LIST)).status, 200);
      const invoked = await rawPost(`${served.origin}/invoke`, JSON.stringify({ tool: 'whoami', arguments: {} }));
      assert.deepEqual(((await invoked.json()) as { structuredContent: unknown }).structuredContent, {
        id: 'anonymous',
        source: 'anonymous',
      });
      assert.ok(requestLines(served).every((l) => l.tenant === 'anonymous'));
      assert.ok(requestLines(served).length >= 2);
    } finally {
      await served.close();
    }
  });

  test('static tokens only: the challenge stays a realm challenge without resource_metadata', async () => {
    const served = await serve({ MCP_AUTH_TOKEN: 'alice:alice-token-0123' });
    try {
      const response = await rawPost(served.url, LIST, { authorization: 'Bearer wrong' });
      assert.equal(response.status, 401);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="mcp", error="invalid_token"');
    } finally {
      await served.close();
    }
  });

  test("a legacy SSE connection belongs to the tenant that opened it: another tenant's POST finds no session", async () => {
    const served = await serve({ MCP_AUTH_TOKEN: 'alice:alice-token-0123,bob:bob-token-4567', MCP_TRANSPORT: 'sse' });
    const controller = new AbortController();
    try {
      const stream = await fetch(`${served.origin}/sse`, {
        headers: { authorization: 'Bearer alice-token-0123' },
        signal: controller.signal,
      });
      assert.equal(stream.status, 200);
      const reader = stream.body!.getReader();
      let text = '';
      while (!/sessionId=([\w-]+)/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
      const endpoint = new URL(/data: (\S+)/.exec(text)![1]!, served.origin).href;
      const init = { jsonrpc: '2.0', id: 1, method: 'ping' };
      const bob = await rawPost(endpoint, JSON.stringify(init), { authorization: 'Bearer bob-token-4567' });
      assert.equal(bob.status, 404);
      const alice = await rawPost(endpoint, JSON.stringify(init), { authorization: 'Bearer alice-token-0123' });
      assert.equal(alice.status, 202);
    } finally {
      controller.abort();
      await served.close();
    }
  });
});

describe('configuration of tenants and OAuth', () => {
  const base = { CONTEXT_SECRET: SECRET };

  test('MCP_AUTH_TOKEN: name:token entries; unnamed tokens get a hashed name; bad entries are one-line errors without the token', () => {
    assert.deepEqual(parseStaticTokens('alice:tok-a, tok-b'), [
      { tenant: 'alice', token: 'tok-a' },
      { tenant: unnamedTenant('tok-b'), token: 'tok-b' },
    ]);
    for (const [value, pattern] of [
      ['bad name!:SeCrEt', /tenant name/],
      ['alice:SeCrEt with space', /token may only hold/],
      ['a:SeCrEt,b:SeCrEt', /listed twice/],
      [':SeCrEt', /tenant name/],
    ] as const) {
      assert.throws(
        () => loadConfig({ ...base, MCP_AUTH_TOKEN: value }),
        (error: unknown) => error instanceof ConfigError && pattern.test(error.message) && !error.message.includes('SeCrEt'),
        value,
      );
    }
    assert.equal(loadConfig(base).maxContextsPerTenant, 20);
    assert.equal(loadConfig({ ...base, MCP_MAX_CONTEXTS_PER_TENANT: '3' }).maxContextsPerTenant, 3);
  });

  test('MCP_OAUTH_*: https issuer (http only on loopback), MCP_PUBLIC_URL required, audience defaults to the public /mcp URL', () => {
    const oauth = loadConfig({
      ...base,
      MCP_HOST: '0.0.0.0',
      MCP_OAUTH_ISSUER: 'https://idaas.example.com/api/v2/app/oidc',
      MCP_PUBLIC_URL: 'https://ci.example.com/',
      MCP_OAUTH_SCOPES: 'mcp:tools, mcp:files',
    }).oauth;
    assert.deepEqual(oauth, {
      issuer: 'https://idaas.example.com/api/v2/app/oidc',
      audience: 'https://ci.example.com/mcp',
      resource: 'https://ci.example.com/mcp',
      scopes: ['mcp:tools', 'mcp:files'],
    });
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ MCP_OAUTH_ISSUER: 'http://idaas.example.com', MCP_PUBLIC_URL: 'https://ci.example.com' }, /MCP_OAUTH_ISSUER: must be https/],
      [{ MCP_OAUTH_ISSUER: 'https://idaas.example.com' }, /MCP_PUBLIC_URL: required with MCP_OAUTH_ISSUER/],
      [{ MCP_OAUTH_AUDIENCE: 'x' }, /MCP_OAUTH_AUDIENCE: only used with MCP_OAUTH_ISSUER/],
      [{ MCP_OAUTH_ISSUER: 'https://a.example?x=1', MCP_PUBLIC_URL: 'https://ci.example.com' }, /no query/],
      [{ MCP_OAUTH_ISSUER: 'https://a.example', MCP_PUBLIC_URL: 'https://ci.example.com', MCP_OAUTH_SCOPES: 'a"b' }, /not a valid scope/],
    ];
    for (const [env, pattern] of cases) assert.throws(() => loadConfig({ ...base, ...env }), pattern, JSON.stringify(env));
    assert.ok(loadConfig({ ...base, MCP_OAUTH_ISSUER: 'http://127.0.0.1:8080', MCP_PUBLIC_URL: 'http://127.0.0.1:3000' }).oauth);
    // What s.yaml renders when the deploy environment sets none of them: OAuth off.
    const unset = {
      MCP_PUBLIC_URL: '',
      MCP_OAUTH_ISSUER: '',
      MCP_OAUTH_AUDIENCE: '',
      MCP_OAUTH_SCOPES: '',
      MCP_MAX_CONTEXTS_PER_TENANT: '20',
    };
    assert.equal(loadConfig({ ...base, ...unset }).oauth, undefined);
    assert.ok(loadConfig({ ...base, MCP_OAUTH_ISSUER: 'http://localhost:8080', MCP_PUBLIC_URL: 'http://127.0.0.1:3000' }).oauth);
  });
});

describe('the real server process with OAuth from its environment', () => {
  let sandbox: RunningSandbox;
  let issuer: IssuerStandIn;
  let key: Key;
  before(async () => {
    key = await makeKey('process');
    issuer = await startIssuerStandIn([key]);
    sandbox = await startTestSandbox();
  });
  after(async () => {
    await sandbox?.close();
    await issuer?.close();
  });

  test('handlers/local.ts with MCP_OAUTH_ISSUER: a stand-in token runs code; the log line names its subject', async () => {
    const port = await freePort();
    const mcp = await startMcp({
      MCP_PORT: String(port),
      MCP_PUBLIC_URL: `http://127.0.0.1:${port}`,
      MCP_OAUTH_ISSUER: issuer.issuer,
      SANDBOX_URL: sandbox.url,
    });
    try {
      assert.equal((await rawPost(mcp.url, LIST)).status, 401);
      const token = await mint(key, { iss: issuer.issuer, aud: mcp.url, sub: 'process-user', exp: now() + 600 });
      const client = await clientWith(mcp.url, token);
      try {
        const result = await call(client, 'run_code', { language: 'python', code: 'print(6 * 7)' });
        assert.match(JSON.stringify(structured(result)), /42/);
      } finally {
        await client.close();
      }
      const runLine = () => mcp.logs().find((l) => l.msg === 'mcp request' && l.tool === 'run_code');
      // The line is written when the response stream ends, on the child's stderr.
      assert.ok(await eventually(() => runLine() !== undefined), 'the run_code request was logged');
      assert.equal(runLine()?.tenant, 'process-user');
      assert.ok(!mcp.stderr().includes(token));
    } finally {
      await mcp.stop();
    }
  });
});
