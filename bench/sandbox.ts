/**
 * Benchmark of the sandbox service against Jupyter Server, side by side in one run
 * on one machine: the same ipykernel (/usr/bin/python3) reached over our HTTP
 * protocol (ZeroMQ behind it) and over Jupyter Server's websocket with
 * `@jupyterlab/services`. A third column-less measurement, the kernel spoken to
 * directly over ZeroMQ, is the floor both paths stand on.
 *
 * Run alone: `npx tsx bench/sandbox.ts`; `npm run bench` runs it through
 * bench/sandbox.bench.ts. Others can call benchSandbox() or runSandboxBench().
 */
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { startSandbox } from '../src/sandbox-service/index.ts';
import { parseSandboxEnv } from '../src/sandbox-service/settings.ts';
import { connectKernelOverWebsocket, executeOverWebsocket, shutdownKernel, startKernelOverRest } from './lib/jupyter-baseline.ts';
import { DENO_KERNEL, startJupyterServer } from './lib/jupyter-server.ts';
import { delay } from './lib/processes.ts';
import { sampleInTurns, time } from './lib/sample.ts';
import { createContext, deleteContext, executeOverHttp, healthCheck } from './lib/sandbox-http.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { formatComparisonTable, formatMs, speedup, type ComparisonRow } from './lib/table.ts';
import { connectKernel, startPlainKernel } from './lib/zmq-kernel.ts';

/** What the bench needs of a running sandbox service. */
export type RunningSandbox = Pick<Awaited<ReturnType<typeof startSandbox>>, 'url' | 'close'>;

export interface SandboxBenchOptions {
  /** Starts the sandbox service on a free loopback port; the bench asks for one without a pool too. */
  start: (overrides?: { poolSize?: number }) => Promise<RunningSandbox>;
  /** Timed trivial executes per path. */
  executes: number;
  /** Untimed executes first, per path. */
  warmup: number;
  /** Timed context creations from a full pool. */
  poolCreations: number;
  /** Timed creations with the pool exhausted (each starts a kernel), and timed Jupyter kernel starts. */
  coldCreations: number;
  /** Least wait between pool creations for the spare to be replaced (longer when cold starts are slower). */
  refillMs: number;
  signal?: AbortSignal;
  log: (line: string) => void;
}

export interface BenchReport {
  title: string;
  rows: ComparisonRow[];
  /** The Markdown table. */
  table: string;
  /** Lines under the table: the floor, where the time goes, anything missed. */
  notes: string[];
}

const CODE = '1+1';
const EXPECTED = '2';
const OURS = 'sandbox service (HTTP)';
const BASELINE = 'Jupyter Server (websocket)';

export async function runSandboxBench(options: SandboxBenchOptions): Promise<BenchReport> {
  const { log, signal } = options;
  const cleanups: (() => Promise<void>)[] = [];
  const loadBefore = loadavg()[0]!;
  try {
    log('starting the sandbox service, Jupyter Server and a plain kernel ...');
    // Started together; whichever did start is stopped, even when another failed.
    const track = <T extends { close(): Promise<void> }>(starting: Promise<T>) =>
      starting.then((value) => {
        cleanups.push(() => value.close());
        return value;
      });
    const starting = [track(options.start()), track(startJupyterServer()), track(startPlainKernel())] as const;
    await Promise.allSettled(starting);
    const [sandbox, jupyter, plain] = await Promise.all(starting);
    const check = (path: string) => (value: string | undefined) => {
      if (value !== EXPECTED) throw new Error(`${path}: ${CODE} gave ${JSON.stringify(value)}, not ${EXPECTED}`);
    };

    // --- trivial execute: the three paths take turns, so load from elsewhere hits all alike ---
    const context = await createContext(sandbox.url);
    const direct = await connectKernel(plain);
    cleanups.push(async () => direct.close());
    const model = await startKernelOverRest(jupyter.settings);
    const kernel = await connectKernelOverWebsocket(jupyter.settings, model);
    cleanups.push(() => shutdownKernel(jupyter.settings, kernel));
    await delay(options.refillMs); // let the pool replace the spare just taken before timing anything
    log(`trivial execute: ${options.executes} of \`${CODE}\` per path, in turns ...`);
    // CPU time of this process per call (the sandbox's server runs in it, beside the
    // clients): unlike wall time, it does not grow when other processes want the cores.
    const cpu = { ours: new CpuMeter(), floor: new CpuMeter(), baseline: new CpuMeter() };
    const executes = await sampleInTurns(
      {
        ours: cpu.ours.wrap(() => executeOverHttp(sandbox.url, context.id, CODE).then(check('ours'))),
        floor: cpu.floor.wrap(() => direct.execute(CODE).then(check('floor'))),
        http: () => healthCheck(sandbox.url),
        baseline: cpu.baseline.wrap(() => executeOverWebsocket(kernel, CODE).then(check('Jupyter Server'))),
      },
      { warmup: options.warmup, count: options.executes, rounds: 10, signal },
    );

    // --- creation without a spare: a second sandbox with no pool, so each one boots a kernel ---
    log(`ours: ${options.coldCreations} creations with no pool (each boots a kernel) ...`);
    const coldCreate: number[] = [];
    const coldDeno: number[] = [];
    const unpooled = await options.start({ poolSize: 0 });
    try {
      // Twice as many Deno starts: one in three used to take a second longer (kernel-connection.ts).
      for (const [language, samples, count] of [
        ['python', coldCreate, options.coldCreations],
        ['javascript', coldDeno, 2 * options.coldCreations],
      ] as const) {
        for (let i = 0; i < count; i++) {
          signal?.throwIfAborted();
          const created = await time(() => createContext(unpooled.url, language));
          samples.push(created.ms);
          await deleteContext(unpooled.url, created.value.id);
        }
      }
    } finally {
      await unpooled.close();
    }
    log(`  ms: ${coldCreate.map((ms) => ms.toFixed(0)).join(' ')}; JavaScript (Deno): ${coldDeno.map((ms) => ms.toFixed(0)).join(' ')}`);

    // --- context creation from a full pool; the first execute in it, too ---
    log(`ours: ${options.poolCreations} context creations from the pool ...`);
    // A spare boots in about the time a creation without one takes; wait well past that.
    // (Capped so a heavily loaded machine cannot stretch the run without end.)
    const refillMs = Math.min(Math.max(options.refillMs, Math.round(1.5 * Math.max(0, ...coldCreate))), 4 * options.refillMs);
    await delay(refillMs);
    const poolCreate: number[] = [];
    const poolReady: number[] = [];
    const poolFirst: number[] = [];
    for (let i = 0; i < options.poolCreations; i++) {
      signal?.throwIfAborted();
      const created = await time(() => createContext(sandbox.url));
      const first = await time(() => executeOverHttp(sandbox.url, created.value.id, CODE));
      check('ours, first execute')(first.value);
      poolCreate.push(created.ms);
      poolReady.push(created.ms + first.ms);
      poolFirst.push(first.ms);
      await deleteContext(sandbox.url, created.value.id);
      await delay(refillMs);
    }
    await deleteContext(sandbox.url, context.id);
    log(
      `  create ms: ${poolCreate.map((ms) => ms.toFixed(0)).join(' ')}; until first result: ${poolReady.map((ms) => ms.toFixed(0)).join(' ')}`,
    );

    log(`Jupyter Server: ${options.coldCreations} kernel starts ...`);
    const restStart: number[] = [];
    const restReady: number[] = [];
    const restConnected: number[] = [];
    const restFirst: number[] = [];
    for (let i = 0; i < options.coldCreations; i++) {
      signal?.throwIfAborted();
      const started = await time(() => startKernelOverRest(jupyter.settings));
      const connected = await time(() => connectKernelOverWebsocket(jupyter.settings, started.value));
      const first = await time(() => executeOverWebsocket(connected.value, CODE));
      check('Jupyter Server, first execute')(first.value);
      restStart.push(started.ms);
      restReady.push(started.ms + connected.ms + first.ms);
      restConnected.push(started.ms + connected.ms);
      restFirst.push(first.ms);
      await shutdownKernel(jupyter.settings, connected.value);
    }

    log(`Jupyter Server: ${2 * options.coldCreations} starts of Deno's kernel ...`);
    const restDeno: number[] = [];
    for (let i = 0; i < 2 * options.coldCreations; i++) {
      signal?.throwIfAborted();
      const started = await time(async () =>
        connectKernelOverWebsocket(jupyter.settings, await startKernelOverRest(jupyter.settings, DENO_KERNEL)),
      );
      restDeno.push(started.ms);
      await shutdownKernel(jupyter.settings, started.value);
    }

    return report(options, {
      coldDeno: summarize(coldDeno),
      restDeno: summarize(restDeno),
      oursExecute: summarize(executes.ours),
      floorExecute: summarize(executes.floor),
      httpRoundTrip: summarize(executes.http),
      cpuPerExecute: { ours: cpu.ours.perCall, floor: cpu.floor.perCall, baseline: cpu.baseline.perCall },
      poolFirst: summarize(poolFirst),
      restFirst: summarize(restFirst),
      restConnected: summarize(restConnected),
      baselineExecute: summarize(executes.baseline),
      poolCreate: summarize(poolCreate),
      poolReady: summarize(poolReady),
      coldCreate: summarize(coldCreate),
      restStart: summarize(restStart),
      restReady: summarize(restReady),
      load: [loadBefore, loadavg()[0]!],
      refillMs,
    });
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log(`clean-up failed: ${String(error)}`);
      }
    }
  }
}

interface Measurements {
  oursExecute: Summary;
  floorExecute: Summary;
  /** GET /health on the sandbox: the HTTP layer alone, client and server. */
  httpRoundTrip: Summary;
  /** CPU ms of this Node process per execute, by path. */
  cpuPerExecute: { ours: number; floor: number; baseline: number };
  /** The first execute in a fresh context (ours) or kernel (Jupyter Server). */
  poolFirst: Summary;
  restFirst: Summary;
  /** Jupyter kernel start until it answers kernel_info over the websocket (ready). */
  restConnected: Summary;
  baselineExecute: Summary;
  poolCreate: Summary;
  poolReady: Summary;
  coldCreate: Summary;
  restStart: Summary;
  restReady: Summary;
  /** A JavaScript context's creation with no spare (Deno's kernel boots), and Jupyter Server's start of the same kernel until ready. */
  coldDeno: Summary;
  restDeno: Summary;
  /** 1-minute load average when the bench started and when it ended. */
  load: [number, number];
  refillMs: number;
}

/** Sums this process's CPU time (user + system) over the calls it wraps. */
class CpuMeter {
  #ms = 0;
  #calls = 0;

  wrap<T>(fn: () => Promise<T>): () => Promise<T> {
    return async () => {
      const before = process.cpuUsage();
      try {
        return await fn();
      } finally {
        const used = process.cpuUsage(before);
        this.#ms += (used.user + used.system) / 1000;
        this.#calls++;
      }
    };
  }

  get perCall(): number {
    return this.#calls === 0 ? 0 : this.#ms / this.#calls;
  }
}

function report(options: SandboxBenchOptions, m: Measurements): BenchReport {
  const executeRatio = speedup({ ours: m.oursExecute, baseline: m.baselineExecute }) ?? 0;
  const rows: ComparisonRow[] = [
    {
      metric: `trivial execute (\`${CODE}\`)`,
      ours: m.oursExecute,
      baseline: m.baselineExecute,
      target: 'p50 ≤ 8 ms and ≥ 5× faster',
      met: m.oursExecute.p50 <= 8 && executeRatio >= 5,
    },
    {
      metric: 'context creation, from the pool (vs kernel start over REST)',
      ours: m.poolCreate,
      baseline: m.restStart,
      target: 'p50 ≤ 50 ms',
      met: m.poolCreate.p50 <= 50,
    },
    {
      metric: 'new context until its first result, from the pool',
      ours: m.poolReady,
      baseline: m.restReady,
      target: '—',
    },
    {
      metric: 'context creation, no spare: kernel boot (vs kernel start until ready)',
      ours: m.coldCreate,
      baseline: m.restConnected,
      target: '—',
    },
    {
      metric: "JavaScript context creation, no spare: Deno's kernel boot (vs its start until ready)",
      ours: m.coldDeno,
      baseline: m.restDeno,
      target: '—',
    },
  ];
  const overhead = m.oursExecute.p50 - m.floorExecute.p50;
  const notes = [
    `Floor: the same \`${CODE}\` sent straight to a plain ipykernel over ZeroMQ ipc (no HTTP, no bubblewrap): ` +
      `p50 ${formatMs(m.floorExecute.p50)} ms, p90 ${formatMs(m.floorExecute.p90)} ms. ` +
      `Our HTTP path adds ${formatMs(overhead)} ms at p50, of which an HTTP round trip alone (GET /health, same client) is ` +
      `${formatMs(m.httpRoundTrip.p50)} ms; Jupyter Server adds ${formatMs(m.baselineExecute.p50 - m.floorExecute.p50)} ms.`,
    `CPU time of the bench's own Node process per execute (clients, and for ours the sandbox's server too; kernels and ` +
      `Jupyter Server not counted): ours ${m.cpuPerExecute.ours.toFixed(2)} ms, floor ${m.cpuPerExecute.floor.toFixed(2)} ms, ` +
      `Jupyter Server path ${m.cpuPerExecute.baseline.toFixed(2)} ms.`,
    `The first execute in a fresh kernel is slower than the rest: ours p50 ${formatMs(m.poolFirst.p50)} ms ` +
      `(p90 ${formatMs(m.poolFirst.p90)}), Jupyter Server p50 ${formatMs(m.restFirst.p50)} ms (p90 ${formatMs(m.restFirst.p90)}).`,
    `Samples: ${options.executes} executes per path after ${options.warmup} warm-up, the paths taking turns in 10 rounds; ${options.poolCreations} pool creations ` +
      `(${formatMs(m.refillMs)} ms apart for the pool to refill); ${options.coldCreations} creations in a second sandbox without a pool, and as many Jupyter kernel starts. ` +
      `Jupyter's kernel start over REST answers before the kernel can run code; "until ready" adds the wait for ` +
      `its kernel_info reply over the websocket, "until its first result" the first execute too.`,
  ];
  notes.push(
    `Load average (1 min) at start and end: ${m.load[0].toFixed(2)} and ${m.load[1].toFixed(2)} on ${cpus().length} cores; ` +
      `anything else running on the machine shows up in all columns alike.`,
  );
  for (const row of rows) {
    if (row.met === false) notes.push(`Missed: ${row.metric}: ours p50 ${formatMs(row.ours!.p50)} ms against "${row.target}".`);
  }
  const title = `Sandbox service vs Jupyter Server, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}`;
  return { title, rows, table: formatComparisonTable(rows, { ours: OURS, baseline: BASELINE }), notes };
}

export function printReport(report: BenchReport, write: (text: string) => void = (text) => process.stdout.write(text)): void {
  write(`\n${report.title}\n\n${report.table}\n\n${report.notes.map((note) => `- ${note}`).join('\n')}\n`);
}

/** The bench with its defaults: about two minutes on 2 idle cores, up to five when they are busy. */
export async function benchSandbox(env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<BenchReport> {
  const config = parseSandboxEnv(env);
  return runSandboxBench({
    start: (overrides) => startSandbox({ ...config, host: '127.0.0.1', port: 0, ...overrides }),
    executes: 200,
    warmup: 30,
    poolCreations: 15,
    coldCreations: 6,
    refillMs: 2000,
    signal,
    log: (line) => process.stderr.write(`${line}\n`),
  });
}

/** Runs the bench with SANDBOX_* settings from `env`, prints its report; Ctrl-C still stops everything it started. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const abort = new AbortController();
  const stop = (name: NodeJS.Signals) => abort.abort(new Error(`stopped by ${name}`));
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    printReport(await benchSandbox(env, abort.signal));
  } catch (error) {
    const why = abort.signal.aborted
      ? String((error as Error).message)
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
    process.stderr.write(`bench ${abort.signal.aborted ? 'stopped' : 'failed'}: ${why}\n`);
    process.exitCode = 1;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
