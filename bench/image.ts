/**
 * The sandbox's container image against the same sandbox service started directly, side by
 * side in one run: start until /health answers, and a trivial execute (`1+1` over HTTP, read to
 * end_of_execution) through the container's published port vs straight to the process (the
 * bundle the image runs, from `npm run image`'s build context, on this host's Node). Both
 * with the jail on (the container with /proc unmasked and SANDBOX_JAIL=on, as test/image does).
 *
 * Run alone, after `npm run image`: `npx tsx bench/image.ts [executes]` (not a *.bench.ts:
 * `npm run bench` does not build images).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpus, homedir, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readLines } from '../src/mcp-server/sandbox-client/execution.ts';
import { parseExecutionEvent } from '../src/protocol/sandbox-api.ts';
import { freePort } from '../test/support/processes.ts';
import { containerCli as cli, engine, IMAGE } from '../test/support/sandbox-container.ts';
import { sampleInTurns } from './lib/sample.ts';
import { summarize } from './lib/stats.ts';
import { formatMarkdownTable, formatMs } from './lib/table.ts';

const TOKEN = 'bench-image-sandbox-token-0123456789';

async function waitHealthy(url: string, started: number): Promise<number> {
  for (const deadline = started + 120_000; performance.now() < deadline; ) {
    try {
      if ((await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).ok) return performance.now() - started;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${url} never answered /health`);
}

/** POST /execute read to end_of_execution; the main result's text. */
async function execute(url: string, contextId: string): Promise<void> {
  const response = await fetch(`${url}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-access-token': TOKEN },
    body: JSON.stringify({ code: '1+1', context_id: contextId }),
  });
  if (!response.ok || !response.body) throw new Error(`POST /execute answered ${response.status}`);
  let value: string | undefined;
  for await (const line of readLines(response.body)) {
    const event = parseExecutionEvent(line);
    if (event?.type === 'result' && event.is_main_result) value = event.text;
  }
  if (value !== '2') throw new Error(`1+1 gave ${value}`);
}

async function createContext(url: string): Promise<string> {
  const response = await fetch(`${url}/contexts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-access-token': TOKEN },
    body: JSON.stringify({ language: 'python' }),
  });
  if (!response.ok) throw new Error(`POST /contexts answered ${response.status}`);
  return ((await response.json()) as { id: string }).id;
}

/** The bundle `npm run image` put in its build context: the very program the image runs, on this host's Node. */
const BUNDLE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fc-code-interpreter-sandbox-image/context/app/sandbox.js');
const executes = Number(process.argv[2] ?? 200);
const containerName = `fc-sandbox-bench-${process.pid}`;
let direct: ChildProcess | undefined;
try {
  const containerPort = await freePort();
  let started = performance.now();
  await cli([
    'run',
    '-d',
    '--rm',
    ...engine.runArgs,
    '--security-opt',
    'unmask=/proc/*',
    '--name',
    containerName,
    '-p',
    `127.0.0.1:${containerPort}:5000`,
    '-e',
    `SANDBOX_API_TOKEN=${TOKEN}`,
    '-e',
    'SANDBOX_JAIL=on',
    IMAGE,
  ]);
  const containerUrl = `http://127.0.0.1:${containerPort}`;
  const containerStart = await waitHealthy(containerUrl, started);

  const directPort = await freePort();
  started = performance.now();
  direct = spawn(process.execPath, [BUNDLE], {
    cwd: dirname(BUNDLE),
    env: { ...process.env, SANDBOX_HOST: '127.0.0.1', SANDBOX_PORT: String(directPort), SANDBOX_API_TOKEN: TOKEN, SANDBOX_JAIL: 'on' },
    stdio: 'ignore',
  });
  const directUrl = `http://127.0.0.1:${directPort}`;
  const directStart = await waitHealthy(directUrl, started);

  const [inContainer, inDirect] = [await createContext(containerUrl), await createContext(directUrl)];
  const samples = await sampleInTurns(
    { container: () => execute(containerUrl, inContainer), direct: () => execute(directUrl, inDirect) },
    { warmup: 20, count: executes, rounds: 10 },
  );
  const container = summarize(samples.container);
  const straight = summarize(samples.direct);
  const ms = (n: number) => formatMs(n);
  console.log(
    `${cpus().length} cores; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  console.log(
    formatMarkdownTable([
      ['metric', 'image under podman (runc)', 'the same bundle started directly', 'container / direct'],
      [
        'start until /health answers (one start each)',
        `${ms(containerStart)} ms`,
        `${ms(directStart)} ms`,
        `×${(containerStart / directStart).toFixed(2)}`,
      ],
      [
        `trivial execute (1+1), p50 / p90, ${executes} each in turns`,
        `${ms(container.p50)} / ${ms(container.p90)} ms`,
        `${ms(straight.p50)} / ${ms(straight.p90)} ms`,
        `×${(container.p50 / straight.p50).toFixed(2)} (p50)`,
      ],
    ]),
  );
} finally {
  direct?.kill('SIGTERM');
  await cli(['rm', '-f', '-t', '5', containerName]).catch(() => {});
}
