/**
 * `npm run smoke -- <url> [token]`: a post-deploy check that the endpoint really runs
 * code, with the official MCP client: health_check, create_context, run_code (checks
 * the printed value), stop_context. One line per step; on any failure one line with
 * the reason and exit code 1 (2 for bad usage). The token may also come from
 * MCP_AUTH_TOKEN, which keeps it out of the process list and CI logs.
 *
 * <url> is the MCP endpoint, or the trigger's base URL (then /mcp is appended).
 * The client tries MCP 2026-07-28 first (server/discover) and falls back to the 2025
 * initialize handshake; the connect line says which era it got.
 */
import { randomInt } from 'node:crypto';
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';

// A sandbox may start cold on FC (image pull, kernel start): generous per-call limits.
const CALL_TIMEOUT_MS = 180_000;

class SmokeFailure extends Error {}

function endpointOf(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SmokeFailure(`not a URL: "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SmokeFailure(`not an http(s) URL: "${raw}"`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/mcp';
  return url;
}

function textOf(result: CallToolResult): string {
  return result.content
    .filter((c): c is { type: 'text'; text: string } => c.type === 'text')
    .map((c) => c.text)
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function oneLine(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  // fetch hides the reason (ECONNREFUSED, ENOTFOUND, a certificate) in its cause, the client one level deeper.
  let cause = error instanceof Error ? (error.cause as { code?: string; message?: string; cause?: unknown } | undefined) : undefined;
  for (let depth = 0; cause && depth < 4; depth++) {
    if (typeof cause.code === 'string') break;
    const inner = cause.cause as typeof cause | undefined;
    if (!inner) break;
    cause = inner;
  }
  if (cause) message += ` (${cause.code ?? cause.message ?? String(cause)})`;
  const { code, data } = error as { code?: unknown; data?: { status?: unknown } };
  if (code === 401 || data?.status === 401 || /\b401\b/.test(message))
    message += ' (HTTP 401: the token is missing or wrong; pass it as the second argument or in MCP_AUTH_TOKEN)';
  return message.replace(/\s+/g, ' ').trim().slice(0, 300);
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [rawUrl, tokenArg] = argv;
  if (!rawUrl || rawUrl === '--help' || argv.length > 2) {
    console.error('usage: npm run smoke -- <url> [token]   (the token may also come from MCP_AUTH_TOKEN)');
    return 2;
  }
  const token = tokenArg ?? env.MCP_AUTH_TOKEN;
  let step = 'connect';
  const started = performance.now();
  const client = new Client({ name: 'fc-code-interpreter-smoke', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  let contextId: string | undefined;

  const timed = async <T>(name: string, run: () => Promise<T>, describe: (value: T) => string): Promise<T> => {
    step = name;
    const t0 = performance.now();
    const value = await run();
    console.log(`ok   ${name.padEnd(15)} ${describe(value)} (${Math.round(performance.now() - t0)} ms)`);
    return value;
  };
  const callTool = async (name: string, args: Record<string, unknown>): Promise<CallToolResult> => {
    const result = (await client.callTool({ name, arguments: args }, { timeout: CALL_TIMEOUT_MS })) as CallToolResult;
    if (result.isError) throw new SmokeFailure(`tool error: ${textOf(result)}`);
    return result;
  };

  try {
    const url = endpointOf(rawUrl);
    const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
    await timed(
      'connect',
      () => client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }), { timeout: CALL_TIMEOUT_MS }),
      () => {
        const version = client.getNegotiatedProtocolVersion() ?? 'unknown';
        const era = version >= '2026-07-28' ? 'MCP 2026-07-28 era, server/discover' : `MCP ${version}, 2025 era, initialize`;
        return `${url.href} (${client.getServerVersion()?.name ?? 'unknown server'} ${client.getServerVersion()?.version ?? ''}; ${era})`.replace(
          ' ;',
          ';',
        );
      },
    );

    await timed(
      'health_check',
      async () => {
        const health = (await callTool('health_check', {})).structuredContent as { status?: string } | undefined;
        if (health?.status !== 'healthy') throw new SmokeFailure(`sandbox is ${health?.status ?? 'unknown'}`);
        return health;
      },
      () => 'sandbox healthy',
    );

    contextId = await timed(
      'create_context',
      async () => {
        const created = (await callTool('create_context', { language: 'python', description: 'smoke test' })).structuredContent as
          | { context_id?: string }
          | undefined;
        if (!created?.context_id) throw new SmokeFailure('no context_id in the result');
        return created.context_id;
      },
      () => 'python',
    );

    // Numbers chosen now, so only code that really ran can print the product.
    const [a, b] = [randomInt(1000, 9999), randomInt(1000, 9999)];
    await timed(
      'run_code',
      async () => {
        const ran = (await callTool('run_code', { context_id: contextId, code: `print(${a} * ${b})` })).structuredContent as
          | { stdout?: string }
          | undefined;
        const printed = (ran?.stdout ?? '').trim();
        if (printed !== String(a * b)) throw new SmokeFailure(`printed "${printed.slice(0, 80)}", expected ${a * b}`);
        return printed;
      },
      (printed) => `${a} * ${b} = ${printed}`,
    );

    const id = contextId;
    contextId = undefined;
    await timed(
      'stop_context',
      () => callTool('stop_context', { context_id: id }),
      () => 'stopped',
    );

    console.log(`PASS smoke test in ${Math.round(performance.now() - started)} ms`);
    return 0;
  } catch (error) {
    console.log(`FAIL ${step}: ${oneLine(error)}`);
    return 1;
  } finally {
    // Leave nothing running behind a failed run.
    if (contextId) await client.callTool({ name: 'stop_context', arguments: { context_id: contextId } }).catch(() => undefined);
    await client.close().catch(() => undefined);
  }
}

process.exitCode = await main(process.argv.slice(2), process.env);
