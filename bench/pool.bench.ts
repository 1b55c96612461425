/**
 * Warm kernels with the jail on and off, side by side in one run (does the pool still pay without the jail?): each
 * round a new session creates a Python context and runs `1+1`, timed from the creation's
 * request to the first result, the spare taken from the pool (its fresh workspace and uid
 * become the session's). Between rounds the session ends and the pool refills. Then, for
 * reference, the same without a spare (poolSize 0) with the jail off. The jail is decided per
 * process (jail-mode.ts), so the modes run one after the other, each on its own sandbox.
 * Target: with the jail off, p50 ≤ 50 ms from the pool.
 */
import { readLines } from '../src/mcp-server/sandbox-client/execution.ts';
import { parseExecutionEvent } from '../src/protocol/sandbox-api.ts';
import { startSandbox } from '../src/sandbox-service/index.ts';
import { delay } from './lib/processes.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { formatMarkdownTable, formatSummary } from './lib/table.ts';

const ROUNDS = 15;
const NO_SPARE_ROUNDS = 5;

async function newContextToFirstResult(url: string, session: string, language = 'python'): Promise<number> {
  const headers = { 'content-type': 'application/json', 'x-ci-session-id': session };
  const started = performance.now();
  const created = await fetch(`${url}/contexts`, { method: 'POST', headers, body: JSON.stringify({ language }) });
  if (!created.ok) throw new Error(`POST /contexts answered ${created.status}: ${await created.text()}`);
  const { id } = (await created.json()) as { id: string };
  const response = await fetch(`${url}/execute`, { method: 'POST', headers, body: JSON.stringify({ code: '1+1', context_id: id }) });
  let result: string | undefined;
  let at = 0;
  for await (const line of readLines(response.body!)) {
    const event = parseExecutionEvent(line);
    if (event?.type === 'error') throw new Error(`execute failed: ${event.name}: ${event.value}`);
    if (event?.type === 'result' && result === undefined) {
      result = event.text;
      at = performance.now();
    }
  }
  if (result !== '2') throw new Error(`1+1 gave ${result}`);
  await (await fetch(`${url}/contexts/${id}`, { method: 'DELETE', headers })).arrayBuffer();
  return at - started;
}

/**
 * Waits for the pool to have refilled: the refill waits REFILL_DELAY_MS (1 s) after a take, then a
 * Python kernel boots in about a second here (more under load). A spare still booting makes the
 * round slow (the creation waits for it), which the p90 shows.
 */
const REFILL_WAIT_MS = 4000;

/** A new session per round, each creating a context of `languageOf(round)`; `jail` undefined: as detected. */
async function measure(
  jail: 'on' | 'off' | undefined,
  poolSize: number,
  rounds: number,
  languageOf: (round: number) => string = () => 'python',
): Promise<Summary> {
  const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, poolSize, jail }, { log: () => {} });
  try {
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      if (poolSize > 0) await delay(REFILL_WAIT_MS);
      samples.push(await newContextToFirstResult(sandbox.url, `bench-pool-${jail ?? 'auto'}-${poolSize}-${i}`, languageOf(i)));
    }
    return summarize(samples);
  } finally {
    await sandbox.close();
  }
}

// New sessions alternating between Python and JavaScript, the default pool of 2: each round's
// language is the one the round before did not use, so the pool must keep a spare of each.
const alternating = await measure(undefined, 2, ROUNDS - 1, (round) => (round % 2 === 0 ? 'python' : 'javascript'));
const jailOn = await measure('on', 1, ROUNDS);
const jailOff = await measure('off', 1, ROUNDS);
const jailOffCold = await measure('off', 0, NO_SPARE_ROUNDS);
console.log(
  formatMarkdownTable([
    ['new context until its first result', 'p50 / p90 ms'],
    ['jail on, from the pool', formatSummary(jailOn)],
    ['jail off, from the pool', formatSummary(jailOff)],
    ['jail off, no spare (kernel boot)', formatSummary(jailOffCold)],
    ['new sessions alternating Python and JavaScript, pool of 2 (jail as detected)', formatSummary(alternating)],
  ]),
);
console.log(`target (jail off, from the pool): p50 ≤ 50 ms: ${jailOff.p50 <= 50 ? 'met' : 'missed'}`);
