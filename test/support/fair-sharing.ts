/**
 * Fair sharing under attack (a security review's attacks): `npm start`'s stack (handlers/local.ts, its own sandbox
 * service) with two named tenants; tenant alice runs the review's attacks (fair-attacks.ts) from
 * a process of her own (fair-attacker.ts), tenant bob times a trivial run_code from this one.
 * Shared by test/e2e/fair-sharing.test.ts (all attacks at once, asserted) and
 * bench/fair-sharing.bench.ts (each attack alone and all at once, a table of ratios). Every
 * attack is bounded: it repeats a fixed burst until told to stop, and what it leaves running in
 * the sandbox ends on its own (CPU loops under `timeout`) or with the stack. Loopback only.
 * Not a test file itself.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/client';
import { percentile } from '../../bench/lib/stats.ts';
import type { AttackerMessage } from './fair-attacker.ts';
import { ALICE, ATTACKS, type Attack, type AttackReport } from './fair-attacks.ts';
import { call, connect, type McpProcess, startMcp, textOf } from './mcp-harness.ts';

export { ALICE, ATTACKS, type Attack, type AttackReport } from './fair-attacks.ts';
export const BOB = 'bob-fair-token-0123456789ab';

export interface FairStack {
  /** The server bob and alice reach. */
  mcp: Pick<McpProcess, 'url' | 'stderr'>;
  bob: Client;
  /** Bob's context, where his trivial run_code runs. */
  bobContext: string;
  close(): Promise<void>;
}

/** The local main with its own sandbox service (no SANDBOX_URL) and tenants alice and bob. */
export async function startFairStack(env: Record<string, string> = {}): Promise<FairStack> {
  const mcp = await startMcp({
    MCP_AUTH_TOKEN: FAIR_AUTH_TOKEN,
    SANDBOX_PORT: '0',
    MCP_FETCH_ALLOW_HOSTS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...env,
  });
  return fairStackOn(mcp, () => mcp.stop());
}

/** MCP_AUTH_TOKEN for a server of the two tenants. */
export const FAIR_AUTH_TOKEN = `alice:${ALICE},bob:${BOB}`;

/**
 * Bob, connected to a running MCP server of the two tenants (FAIR_AUTH_TOKEN; write_file may
 * fetch from 127.0.0.1), with his context made; `stop` stops the server.
 */
export async function fairStackOn(mcp: FairStack['mcp'], stop: () => Promise<void>): Promise<FairStack> {
  const bob = await connect(mcp.url, { authorization: `Bearer ${BOB}` });
  try {
    await bob.listTools();
    const created = await call(bob, 'create_context');
    if (created.isError) throw new Error(`bob's context: ${textOf(created)}`);
    const bobContext = (created.structuredContent as { context_id: string }).context_id;
    return {
      mcp,
      bob,
      bobContext,
      async close() {
        await bob.close().catch(() => {});
        await stop();
      },
    };
  } catch (error) {
    await bob.close().catch(() => {});
    await stop();
    throw error;
  }
}

/** One trivial run_code of bob's: its time in ms, or the error it ended with. */
export async function bobRuns(stack: FairStack): Promise<{ ms: number; error?: string }> {
  const started = performance.now();
  try {
    const result = await call(stack.bob, 'run_code', { context_id: stack.bobContext, code: '1 + 1' });
    const ms = performance.now() - started;
    if (result.isError || !/2/.test(textOf(result))) return { ms, error: textOf(result).slice(0, 300) };
    return { ms };
  } catch (error) {
    return { ms: performance.now() - started, error: String(error).slice(0, 300) };
  }
}

/** Bob's trivial run_code, `count` times one after another (fewer if `maxMs` runs out first): the times and the errors. */
export async function timeBob(
  stack: FairStack,
  count: number,
  maxMs = Number.POSITIVE_INFINITY,
): Promise<{ samples: number[]; errors: string[] }> {
  const samples: number[] = [];
  const errors: string[] = [];
  const deadline = performance.now() + maxMs;
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const { ms, error } = await bobRuns(stack);
    samples.push(ms);
    if (error) errors.push(error);
  }
  return { samples, errors };
}

/** Bob's runs on the idle server and under every attack at once, with their p99s. */
export interface FairMeasurement {
  idle: { samples: number[]; errors: string[] };
  attacked: { samples: number[]; errors: string[] };
  p99: { idle: number; attacked: number };
}

/**
 * What both fair-sharing tests measure: bob warmed up, then `runs` on the idle server (which
 * must all answer), then `runs` (or as many as `attackedMs` allows) under every attack at once.
 * `diagnostic` gets his p50/p99 both ways and each attack's report.
 */
export async function measureFairness(
  stack: FairStack,
  { runs, attackedMs, diagnostic }: { runs: number; attackedMs: number; diagnostic: (line: string) => void },
): Promise<FairMeasurement> {
  await timeBob(stack, 10); // warm: the kernel, the connections
  const idle = await timeBob(stack, runs);
  assert.deepEqual(idle.errors, [], 'bob on the idle server');
  const { result: attacked, reports } = await underAttack(stack, ATTACKS, () => timeBob(stack, runs, attackedMs));
  const p99 = { idle: percentile(idle.samples, 0.99), attacked: percentile(attacked.samples, 0.99) };
  diagnostic(
    `bob's run_code p50/p99: idle ${percentile(idle.samples, 0.5).toFixed(1)}/${p99.idle.toFixed(1)} ms, under attack ${percentile(attacked.samples, 0.5).toFixed(1)}/${p99.attacked.toFixed(1)} ms (×${(p99.attacked / p99.idle).toFixed(2)})`,
  );
  for (const attack of ATTACKS) {
    const report = reports.get(attack.name)!;
    diagnostic(`finding ${attack.finding}, ${attack.name}: ${report.bursts} bursts; ${[...report.notes].slice(0, 4).join(' | ')}`);
  }
  return { idle, attacked, p99 };
}

const ATTACKER = new URL('./fair-attacker.ts', import.meta.url);

/**
 * Runs `attacks` from alice's own process (fair-attacker.ts) until `work` has finished, then stops
 * them and waits for their clean-up (bounded); the attacker is killed if it outlives that.
 */
export async function underAttack<T>(
  stack: FairStack,
  attacks: readonly Attack[],
  work: () => Promise<T>,
  { warmUpMs = 3000, cleanUpMs = 30_000 } = {},
): Promise<{ result: T; reports: Map<string, AttackReport> }> {
  const attacker = fork(ATTACKER, [], {
    // Alice's client (her requests, the 600 sockets, the file server her downloads come from) runs
    // on her own machine in the field; here it shares the server's two cores, and at nice 19 it
    // takes what the server, its kernels and bob's client leave instead of a third of the CPU.
    ...(process.env.FAIR_ALICE_NICE === '0'
      ? { execArgv: ['--import', 'tsx'] }
      : { execPath: 'nice', execArgv: ['-n', '19', process.execPath, '--import', 'tsx'] }),
    env: {
      ...process.env,
      FAIR_MCP_URL: stack.mcp.url,
      FAIR_FINDINGS: attacks.map((a) => a.finding).join(','),
      FAIR_CLEAN_UP_MS: String(cleanUpMs),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(attacker, 'exit');
  const next = () =>
    Promise.race([
      once(attacker, 'message') as Promise<[AttackerMessage]>,
      exited.then(() => [{ type: 'failed', error: 'the attacker exited' }] as [AttackerMessage]),
    ]).then(([message]) => message);
  const reports = new Map(attacks.map((attack) => [attack.name, { bursts: 0, notes: new Set<string>() } as AttackReport]));
  try {
    const ready = await next();
    if (ready.type !== 'ready') throw new Error(`alice's attacks did not start: ${ready.type === 'failed' ? ready.error : ready.type}`);
    await sleep(warmUpMs);
    const result = await work();
    attacker.send({ type: 'stop' });
    // Unref'd: once the reports are in, the bound must not hold the process (a test file ended 36 s late).
    const done = await Promise.race([next(), sleep(cleanUpMs + 10_000, undefined, { ref: false }).then(() => undefined)]);
    if (done?.type === 'reports') {
      for (const report of done.reports) reports.set(report.name, { bursts: report.bursts, notes: new Set(report.notes) });
    }
    return { result, reports };
  } finally {
    if (attacker.exitCode === null && attacker.signalCode === null) {
      attacker.kill('SIGKILL');
      await exited;
    }
  }
}
