/**
 * The two images side by side as a user runs them (`npm run test:image`, which builds both first):
 * the sandbox image and the MCP server image (infra/server.Containerfile) in two containers on one
 * network, the server started with the run line docs/development.md#releases gives
 * (`-e SANDBOX_URL=… -p 3000:3000`, published on loopback here), both at package.json's version tag.
 * Driven by the official MCP client over Streamable HTTP with a bearer token: Python, JavaScript, a
 * chart, a file, stop. And a server image started without a token refuses to serve, saying why.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { eventually } from '../support/eventually.ts';
import { type ToolResult, useEveryPart } from '../support/every-part.ts';
import { ROOT } from '../support/mcp-harness.ts';
import { freePort } from '../support/processes.ts';
import { containerCli, engine, requireImage } from '../support/sandbox-container.ts';

const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const SANDBOX_IMAGE = `localhost/fc-code-interpreter-sandbox:${version}`;
const SERVER_IMAGE = `localhost/fc-code-interpreter-mcp:${version}`;
const SANDBOX_API_TOKEN = 'server-image-test-sandbox-token-0123456789';
const AUTH_TOKEN = 'server-image-test-mcp-token';
const CONTEXT_SECRET = 'server-image-test-context-secret-32';

const suffix = `${process.pid}`;
const network = `fc-mcp-image-test-${suffix}`;
const sandboxName = `fc-mcp-image-test-sandbox-${suffix}`;
const serverName = `fc-mcp-image-test-server-${suffix}`;
const started: string[] = [];

async function logsOf(name: string): Promise<string> {
  const { stdout, stderr } = await containerCli(['logs', name]).catch(() => ({ stdout: '', stderr: '' }));
  return stdout + stderr;
}

describe('the server image beside the sandbox image, two containers on one network', () => {
  let url: string;

  before(async () => {
    for (const image of [SANDBOX_IMAGE, SERVER_IMAGE]) await requireImage(image, 'build both with `npm run image -- sandbox server`');
    await containerCli(['network', 'create', network]);
    await containerCli([
      'run',
      '-d',
      '--rm',
      ...engine.runArgs,
      '--network',
      network,
      '--name',
      sandboxName,
      '-e',
      `SANDBOX_API_TOKEN=${SANDBOX_API_TOKEN}`,
      SANDBOX_IMAGE,
    ]);
    started.push(sandboxName);
    // The sandbox by name, as a user's SANDBOX_URL names it: podman's CNI networks here resolve no
    // container names (no dns plugin), so the name is given its address on the network.
    const { stdout: address } = await containerCli([
      'inspect',
      sandboxName,
      '--format',
      `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
    ]);
    const hostPort = await freePort();
    await containerCli([
      'run',
      '-d',
      '--rm',
      ...engine.runArgs,
      '--network',
      network,
      '--add-host',
      `fc-sandbox:${address.trim()}`,
      '--name',
      serverName,
      '-e',
      'SANDBOX_URL=http://fc-sandbox:5000',
      '-e',
      `SANDBOX_API_TOKEN=${SANDBOX_API_TOKEN}`,
      '-e',
      `MCP_AUTH_TOKEN=${AUTH_TOKEN}`,
      '-e',
      `CONTEXT_SECRET=${CONTEXT_SECRET}`,
      '-p',
      `127.0.0.1:${hostPort}:3000`,
      SERVER_IMAGE,
    ]);
    started.push(serverName);
    url = `http://127.0.0.1:${hostPort}`;
    const healthy = await eventually(async () => {
      try {
        const [server, sandbox] = await Promise.all([
          fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) }),
          containerCli([
            'exec',
            sandboxName,
            '/usr/local/bin/node',
            '-e',
            "fetch('http://127.0.0.1:5000/health').then((r) => process.exit(r.ok ? 0 : 1))",
          ]),
        ]);
        return server.status === 200 && sandbox !== undefined;
      } catch {
        return false;
      }
    }, 60_000);
    assert.ok(
      healthy,
      `both containers answer /health\n--- server ---\n${await logsOf(serverName)}\n--- sandbox ---\n${await logsOf(sandboxName)}`,
    );
  });

  after(async () => {
    // Stopped first, then removed: see sandbox-image.test.ts's stop for the rule `rm -f` alone left behind.
    for (const name of started) {
      await containerCli(['stop', '-t', '5', name]).catch(() => {});
      await containerCli(['rm', '-f', '-t', '5', name]).catch(() => {});
    }
    await containerCli(['network', 'rm', '-f', network]).catch(() => {});
  });

  test('the official client runs Python, JavaScript, a chart and a file through the server container, and stops them', async () => {
    const client = new Client({ name: 'server-image-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${AUTH_TOKEN}` } } }),
    );
    try {
      assert.equal(client.getServerVersion()?.version, version, 'the server reports the version its image is tagged with');
      await useEveryPart(async (name, args) => (await client.callTool({ name, arguments: args })) as ToolResult);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\n--- server ---\n${await logsOf(serverName)}\n--- sandbox ---\n${await logsOf(sandboxName)}`,
      );
    } finally {
      await client.close();
    }
  });

  test('the server container refuses to serve beyond loopback without a token, and says which setting', async () => {
    const outcome = await containerCli(['run', '--rm', ...engine.runArgs, '-e', 'SANDBOX_URL=http://fc-sandbox:5000', SERVER_IMAGE]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(outcome.code, 2, outcome.stderr);
    assert.match(outcome.stderr, /^configuration error: MCP_AUTH_TOKEN: required when binding to 0\.0\.0\.0/m);
  });
});
