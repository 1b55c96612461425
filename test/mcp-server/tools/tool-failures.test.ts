// Every tool failure reaches the agent as an isError result with our message, in every
// client: the 1.x SDK (1.32.2) after listTools, which checks structuredContent against the
// tool's outputSchema also when isError is set (a mismatch used to throw -32602 instead of
// our message), over Streamable HTTP and over stdio; and the 2.x client in both eras.
//
// Provoked for real, against real server processes (handlers/local.ts, handlers/stdio.ts)
// and a real sandbox service: invalid_arguments, unknown_context (tampered and stopped
// ids), invalid_path, sandbox_file_not_found, sandbox_http (a symlink out of the
// workspace), file_too_large, fetch_failed (a loopback URL), too_many_contexts and
// sandbox_unreachable (a server whose sandbox is down).
// Not provoked (no real way short of faking the sandbox or FC): sandbox_not_found,
// sandbox_timeout, sandbox_protocol, sandbox_no_file_api, cancelled (an aborting client
// never reads the answer), session_api, internal. For those, and for every kind on every
// tool, the failure object is checked against every listed outputSchema with the 1.x
// client's own validator (its Ajv) and the 2.x client's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CallToolResult, Client as Client2 } from '@modelcontextprotocol/client';
import { AjvJsonSchemaValidator as Ajv2 } from '@modelcontextprotocol/client/validators/ajv';
import { Client as Client1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AjvJsonSchemaValidator as Ajv1 } from '@modelcontextprotocol/sdk/validation/ajv';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { TOOL_FAILURE_KINDS, type ToolFailureKind } from '../../../src/mcp-server/refusal.ts';
import { toolFailure } from '../../../src/mcp-server/tools/tool-failure.ts';
import {
  call,
  connect,
  ERAS,
  ROOT,
  SECRET,
  startMcp,
  startTestSandbox,
  structured,
  TOOL_NAMES,
  textOf,
  type McpProcess,
} from '../../support/mcp-harness.ts';
import { freePort } from '../../support/processes.ts';

/** What the servers under test are told: small enough limits to hit. */
const LIMITS = { CONTEXT_SECRET: SECRET, MCP_MAX_FILE_BYTES: '1000', MCP_MAX_CONTEXTS_PER_TENANT: '1' };

let sandbox: RunningSandbox;
/** Uncapped: makes the contexts the cases use. */
let maker: McpProcess;
/** The cases' server: one live context is already the most it allows. */
let capped: McpProcess;
/** Its sandbox is down (nothing listens at its SANDBOX_URL). */
let down: McpProcess;
let deadSandboxUrl: string;
/** A live context with a symlink out of the workspace in it; one that was stopped. */
let ctx: string;
let stopped: string;

before(async () => {
  sandbox = await startTestSandbox();
  deadSandboxUrl = `http://127.0.0.1:${await freePort()}`;
  [maker, capped, down] = await Promise.all([
    startMcp({ SANDBOX_URL: sandbox.url }),
    startMcp({ SANDBOX_URL: sandbox.url, ...LIMITS }),
    startMcp({ SANDBOX_URL: deadSandboxUrl, ...LIMITS }),
  ]);
  const client = await connect(maker.url);
  const create = async () => structured<{ context_id: string }>(await call(client, 'create_context')).context_id;
  ctx = await create();
  stopped = await create();
  assert.equal((await call(client, 'stop_context', { context_id: stopped })).isError, undefined);
  const planted = await call(client, 'run_code', { context_id: ctx, code: 'import os\nos.symlink("/etc/shadow", "shadow")' });
  assert.equal(planted.isError, false, textOf(planted));
  await client.close();
});

after(async () => {
  await Promise.all([maker, capped, down].map((p) => p?.stop()));
  await sandbox?.close();
});

interface Case {
  tool: string;
  kind: ToolFailureKind;
  on: 'capped' | 'down';
  args(): Record<string, unknown>;
  message: RegExp;
  /** Tells apart two cases of one tool and kind. */
  note?: string;
}

const tampered = () => `${ctx.slice(0, -2)}${ctx.endsWith('AA') ? 'BB' : 'AA'}`;

const CASES: Case[] = [
  { tool: 'run_code', kind: 'invalid_arguments', on: 'capped', args: () => ({ code: '' }), message: /invalid arguments for run_code/ },
  {
    tool: 'create_context',
    kind: 'invalid_arguments',
    on: 'capped',
    args: () => ({ language: 'cobol' }),
    message: /invalid arguments for create_context/,
  },
  { tool: 'stop_context', kind: 'invalid_arguments', on: 'capped', args: () => ({}), message: /context_id/ },
  {
    tool: 'list_files',
    kind: 'invalid_arguments',
    on: 'capped',
    args: () => ({ context_id: ctx, depth: 99 }),
    message: /invalid arguments for list_files/,
  },
  { tool: 'read_file', kind: 'invalid_arguments', on: 'capped', args: () => ({ context_id: ctx }), message: /path/ },
  {
    tool: 'write_file',
    kind: 'invalid_arguments',
    on: 'capped',
    args: () => ({ context_id: ctx, path: 'a.txt' }),
    message: /either content or url/,
  },
  {
    tool: 'run_code',
    kind: 'unknown_context',
    on: 'capped',
    args: () => ({ context_id: tampered(), code: '1' }),
    message: /unknown context/,
    note: 'tampered id',
  },
  {
    tool: 'run_code',
    kind: 'unknown_context',
    on: 'capped',
    args: () => ({ context_id: stopped, code: '1' }),
    message: /unknown or expired/,
    note: 'stopped id',
  },
  { tool: 'stop_context', kind: 'unknown_context', on: 'capped', args: () => ({ context_id: stopped }), message: /unknown or expired/ },
  {
    tool: 'install_packages',
    kind: 'invalid_arguments',
    on: 'capped',
    args: () => ({ context_id: ctx, packages: ['--index-url=http://evil.test/simple'] }),
    message: /options are not accepted as packages/,
  },
  {
    tool: 'install_packages',
    kind: 'unknown_context',
    on: 'capped',
    args: () => ({ context_id: stopped, packages: ['pandas'] }),
    message: /unknown or expired/,
  },
  { tool: 'set_network', kind: 'invalid_arguments', on: 'capped', args: () => ({ context_id: ctx, network: 'all' }), message: /network/ },
  {
    tool: 'set_network',
    kind: 'unknown_context',
    on: 'capped',
    args: () => ({ context_id: stopped, network: 'none' }),
    message: /unknown or expired/,
  },
  // Beyond the operator's ceiling (SANDBOX_EGRESS_ALLOW, the package indexes by default): the host is named.
  {
    tool: 'set_network',
    kind: 'network_refused',
    on: 'capped',
    args: () => ({ context_id: ctx, network: { allow: ['evil.example.com'] } }),
    message: /evil\.example\.com is beyond the hosts/,
  },
  {
    tool: 'create_context',
    kind: 'network_refused',
    on: 'capped',
    args: () => ({ network: { allow: ['pypi.org', 'evil.example.com'] } }),
    message: /evil\.example\.com is beyond the hosts/,
  },
  {
    tool: 'set_network',
    kind: 'sandbox_unreachable',
    on: 'down',
    args: () => ({ context_id: ctx, network: 'none' }),
    message: /unreachable/,
  },
  // A context id is no run id, and a run id made from one is refused before any sandbox call.
  { tool: 'wait_run', kind: 'unknown_run', on: 'capped', args: () => ({ run_id: `run_${ctx.slice(4)}` }), message: /unknown run/ },
  { tool: 'cancel_run', kind: 'unknown_run', on: 'capped', args: () => ({ run_id: ctx }), message: /unknown run/ },
  // Nor is a context id made into a result handle one (test/mcp-server/apps/result-view.test.ts has the rest).
  {
    tool: 'result_page',
    kind: 'unknown_result',
    on: 'capped',
    args: () => ({ handle: `res_${ctx.slice(4)}` }),
    message: /unknown result/,
  },
  {
    tool: 'result_page',
    kind: 'invalid_arguments',
    on: 'capped',
    args: () => ({ handle: `res_${ctx.slice(4)}`, limit: 10_000 }),
    message: /invalid arguments for result_page/,
  },
  { tool: 'list_files', kind: 'unknown_context', on: 'capped', args: () => ({ context_id: tampered() }), message: /unknown context/ },
  {
    tool: 'read_file',
    kind: 'unknown_context',
    on: 'capped',
    args: () => ({ context_id: tampered(), path: 'a.txt' }),
    message: /unknown context/,
  },
  {
    tool: 'write_file',
    kind: 'unknown_context',
    on: 'capped',
    args: () => ({ context_id: tampered(), path: 'a.txt', content: 'a' }),
    message: /unknown context/,
  },
  {
    tool: 'read_file',
    kind: 'invalid_path',
    on: 'capped',
    args: () => ({ context_id: ctx, path: '../../etc/passwd' }),
    message: /contains "\.\."/,
  },
  {
    tool: 'write_file',
    kind: 'invalid_path',
    on: 'capped',
    args: () => ({ context_id: ctx, path: '/tmp/x', content: 'x' }),
    message: /outside the workspace/,
  },
  {
    tool: 'list_files',
    kind: 'invalid_path',
    on: 'capped',
    args: () => ({ context_id: ctx, path: '/etc' }),
    message: /outside the workspace/,
  },
  {
    tool: 'read_file',
    kind: 'sandbox_file_not_found',
    on: 'capped',
    args: () => ({ context_id: ctx, path: 'no-such-file.txt' }),
    message: /no-such-file\.txt/,
  },
  {
    tool: 'list_files',
    kind: 'sandbox_file_not_found',
    on: 'capped',
    args: () => ({ context_id: ctx, path: 'no-such-folder' }),
    message: /no-such-folder/,
  },
  { tool: 'read_file', kind: 'sandbox_http', on: 'capped', args: () => ({ context_id: ctx, path: 'shadow' }), message: /symbolic link/ },
  {
    tool: 'write_file',
    kind: 'file_too_large',
    on: 'capped',
    args: () => ({ context_id: ctx, path: 'big.txt', content: 'x'.repeat(2000) }),
    message: /MCP_MAX_FILE_BYTES/,
  },
  {
    tool: 'write_file',
    kind: 'fetch_failed',
    on: 'capped',
    args: () => ({ context_id: ctx, path: 'x', url: 'http://127.0.0.1:1/x' }),
    message: /MCP_FETCH_ALLOW_HOSTS/,
  },
  { tool: 'create_context', kind: 'too_many_contexts', on: 'capped', args: () => ({}), message: /MCP_MAX_CONTEXTS_PER_TENANT=1/ },
  { tool: 'create_context', kind: 'sandbox_unreachable', on: 'down', args: () => ({}), message: /unreachable/ },
  { tool: 'list_contexts', kind: 'sandbox_unreachable', on: 'down', args: () => ({}), message: /unreachable/ },
  { tool: 'run_code', kind: 'sandbox_unreachable', on: 'down', args: () => ({ code: '1' }), message: /unreachable/, note: 'one-off' },
  {
    tool: 'run_code',
    kind: 'sandbox_unreachable',
    on: 'down',
    args: () => ({ context_id: ctx, code: '1' }),
    message: /unreachable/,
    note: 'in a context',
  },
  { tool: 'stop_context', kind: 'sandbox_unreachable', on: 'down', args: () => ({ context_id: ctx }), message: /unreachable/ },
  { tool: 'list_files', kind: 'sandbox_unreachable', on: 'down', args: () => ({ context_id: ctx }), message: /unreachable/ },
  { tool: 'read_file', kind: 'sandbox_unreachable', on: 'down', args: () => ({ context_id: ctx, path: 'a.txt' }), message: /unreachable/ },
  {
    tool: 'write_file',
    kind: 'sandbox_unreachable',
    on: 'down',
    args: () => ({ context_id: ctx, path: 'a.txt', content: 'a' }),
    message: /unreachable/,
  },
];

/** A client that has listed the tools, so it checks every structuredContent against their output schemas. */
interface Caller {
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

async function sdk1(transport: StreamableHTTPClientTransport | StdioClientTransport): Promise<Caller> {
  const client = new Client1({ name: 'failures-1x', version: '1.0.0' });
  await client.connect(transport);
  await client.listTools();
  return {
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    close: () => client.close(),
  };
}

function stdio(sandboxUrl: string): StdioClientTransport {
  return new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', 'handlers/stdio.ts'],
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', SANDBOX_URL: sandboxUrl, LOG_LEVEL: 'error', ...LIMITS },
    stderr: 'ignore',
  });
}

function assertFailure(result: CallToolResult, expected: Case): void {
  const text = textOf(result);
  assert.equal(result.isError, true, text);
  const error = structured<{ error: { kind: string; message: string } }>(result).error;
  assert.equal(error.kind, expected.kind, text);
  assert.equal(error.message, text, 'the text block is the message');
  assert.match(text, expected.message);
}

const CLIENTS: { name: string; open(server: 'capped' | 'down'): Promise<Caller> }[] = [
  {
    name: '1.x client over Streamable HTTP',
    open: (server) => sdk1(new StreamableHTTPClientTransport(new URL((server === 'capped' ? capped : down).url))),
  },
  { name: '1.x client over stdio', open: (server) => sdk1(stdio(server === 'capped' ? sandbox.url : deadSandboxUrl)) },
  ...ERAS.map((era) => ({
    name: `2.x client, ${era} era, over Streamable HTTP`,
    async open(server: 'capped' | 'down'): Promise<Caller> {
      const client: Client2 = await connect((server === 'capped' ? capped : down).url, {}, era);
      await client.listTools();
      return { call: (name, args) => call(client, name, args), close: () => client.close() };
    },
  })),
];

for (const client of CLIENTS) {
  describe(client.name, () => {
    const callers = new Map<'capped' | 'down', Caller>();
    after(async () => {
      for (const caller of callers.values()) await caller.close();
    });

    for (const failure of CASES) {
      const notes = [failure.note, failure.on === 'down' ? 'sandbox down' : undefined].filter(Boolean).join(', ');
      test(`${failure.tool}: ${failure.kind}${notes ? ` (${notes})` : ''}`, async () => {
        let caller = callers.get(failure.on);
        if (!caller) {
          caller = await client.open(failure.on);
          callers.set(failure.on, caller);
        }
        assertFailure(await caller.call(failure.tool, failure.args()), failure);
      });
    }
  });
}

describe('every failure kind against every listed output schema', () => {
  let tools: { name: string; outputSchema?: Record<string, unknown> }[];
  before(async () => {
    const caller = new Client1({ name: 'failures-1x', version: '1.0.0' });
    await caller.connect(new StreamableHTTPClientTransport(new URL(capped.url)));
    tools = (await caller.listTools()).tools;
    await caller.close();
  });

  test('the tools provoked above cover every tool but health_check, whose handler cannot fail', () => {
    const provoked = new Set(CASES.map((c) => c.tool));
    assert.deepEqual(
      TOOL_NAMES.filter((name) => !provoked.has(name)),
      ['health_check'],
    );
  });

  for (const [name, validator] of [
    ['the 1.x client', new Ajv1()],
    ['the 2.x client', new Ajv2()],
  ] as const) {
    test(`${name}'s validator admits every kind, with every detail, for every tool`, () => {
      assert.deepEqual(tools.map((t) => t.name).sort(), TOOL_NAMES);
      for (const tool of tools) {
        assert.ok(tool.outputSchema, `${tool.name} lists an outputSchema`);
        assert.equal(tool.outputSchema.type, 'object', 'an output schema is an object at its root');
        const validate = validator.getValidator(tool.outputSchema);
        for (const kind of TOOL_FAILURE_KINDS) {
          const failure = toolFailure(kind, `a ${kind} failure`, { status: 503, code: 'Throttled', operation: 'CreateSession' });
          const verdict = validate(failure.structuredContent);
          assert.ok(verdict.valid, `${tool.name} × ${kind}: ${verdict.errorMessage}`);
        }
        // The union keeps the schema a schema: neither an empty object nor an unknown kind passes.
        assert.equal(validate({}).valid, false, `${tool.name} refuses {}`);
        assert.equal(validate({ error: { kind: 'no_such_kind', message: 'x' } }).valid, false, `${tool.name} refuses an unknown kind`);
      }
    });
  }
});
