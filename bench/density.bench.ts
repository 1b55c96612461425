/**
 * Density: what a Python context costs in memory, and what idle contexts cost the
 * busy one.
 * - Memory: 10 Python contexts in 10 sessions, pool off, each having run `1+1` and listed its
 *   files (so its session's file worker is up); the PSS (/proc/PID/smaps_rollup) of every process
 *   the sandbox started, summed and divided by 10, by kind (kernel, file worker, bubblewrap);
 *   then again once the file workers' idle time (FILE_WORKER_IDLE_MS, where there is one) is past.
 * - Idle contexts: trivial executes in turns on two sandboxes side by side, one holding a single
 *   context, the other that context plus 39 idle ones (each in its own session). Target: p50 with
 *   40 ≤ ×1.2 the p50 with 1.
 * `SANDBOX_SRC=/work/wt-base/src npx tsx bench/density.bench.ts` measures another checkout's code.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { delay } from './lib/processes.ts';
import { sampleInTurns } from './lib/sample.ts';
import { createContext, executeOverHttp } from './lib/sandbox-http.ts';
import { summarize } from './lib/stats.ts';
import { formatMarkdownTable, formatSummary } from './lib/table.ts';

const src = resolve(process.env.SANDBOX_SRC ?? new URL('../src', import.meta.url).pathname);
const service = (await import(pathToFileURL(`${src}/sandbox-service/index.ts`).href)) as typeof import('../src/sandbox-service/index.ts');
const space = (await import(pathToFileURL(`${src}/sandbox-service/contexts/session-space.ts`).href)) as { FILE_WORKER_IDLE_MS?: number };
const MEMORY_CONTEXTS = 10;
const IDLE_CONTEXTS = 40;
const only = process.argv.slice(2);

type Sandbox = Awaited<ReturnType<typeof service.startSandbox>>;

async function newContext(url: string, session: string): Promise<string> {
  const headers = { 'content-type': 'application/json', 'x-ci-session-id': session };
  const created = await fetch(`${url}/contexts`, { method: 'POST', headers, body: JSON.stringify({ language: 'python' }) });
  if (!created.ok) throw new Error(`POST /contexts answered ${created.status}: ${await created.text()}`);
  return ((await created.json()) as { id: string }).id;
}

async function run(url: string, session: string, id: string, code: string): Promise<void> {
  const headers = { 'content-type': 'application/json', 'x-ci-session-id': session };
  const response = await fetch(`${url}/execute`, { method: 'POST', headers, body: JSON.stringify({ code, context_id: id }) });
  const text = await response.text();
  if (!response.ok || text.includes('"type":"error"')) throw new Error(`execute: ${response.status} ${text.slice(0, 300)}`);
}

/** Every process below this one but tsx's esbuild, with its PSS in KiB and what it is. */
function processes(): { pid: number; kind: string; pssKb: number }[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid)!.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  const found: { pid: number; kind: string; pssKb: number }[] = [];
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      try {
        const command = readFileSync(`/proc/${child}/cmdline`, 'utf8').replace(/\0/g, ' ');
        if (command.includes('esbuild')) continue;
        const pssKb = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${child}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
        const kind = command.startsWith('/usr/bin/bwrap')
          ? 'bubblewrap'
          : command.includes('file IO') || command.includes('-I -S -B')
            ? 'file worker'
            : command.includes('python3')
              ? 'kernel'
              : command.includes('socat')
                ? 'bridge (socat)'
                : command.split(' ')[0]!;
        found.push({ pid: child, kind, pssKb });
      } catch {
        continue;
      }
      walk(child);
    }
  };
  walk(process.pid);
  return found;
}

function memoryRow(label: string, contexts: number): string[] {
  const all = processes();
  const byKind = new Map<string, { kb: number; count: number }>();
  for (const p of all) {
    const kind = byKind.get(p.kind) ?? { kb: 0, count: 0 };
    kind.kb += p.pssKb;
    kind.count++;
    byKind.set(p.kind, kind);
  }
  const mb = (kb: number) => (kb / 1024 / contexts).toFixed(1);
  const total = all.reduce((sum, p) => sum + p.pssKb, 0);
  const parts = [...byKind].map(([kind, { kb, count }]) => `${kind} ${mb(kb)} (${count})`).join(', ');
  return [label, `${mb(total)} MB`, parts, total / 1024 / contexts <= 35 ? 'yes' : 'NO'];
}

async function memory(): Promise<string[][]> {
  const sandbox: Sandbox = await service.startSandbox({ host: '127.0.0.1', port: 0, poolSize: 0 }, { log: () => {} });
  try {
    for (let i = 0; i < MEMORY_CONTEXTS; i++) {
      const session = `bench-density-${i}`;
      const id = await newContext(sandbox.url, session);
      await run(sandbox.url, session, id, '1+1');
      const listed = await fetch(`${sandbox.url}/filesystem?path=/home/user`, { headers: { 'x-ci-session-id': session } });
      if (!listed.ok) throw new Error(`GET /filesystem: ${listed.status}`);
      await listed.arrayBuffer();
    }
    await delay(2000);
    const rows = [memoryRow('after `1+1` and a file listing', MEMORY_CONTEXTS)];
    const idleMs = space.FILE_WORKER_IDLE_MS;
    if (idleMs) {
      await delay(idleMs + 3000);
      rows.push(memoryRow(`idle for ${(idleMs + 3000) / 1000} s`, MEMORY_CONTEXTS));
    }
    return rows;
  } finally {
    await sandbox.close();
  }
}

async function idleContexts(): Promise<string[][]> {
  const one: Sandbox = await service.startSandbox({ host: '127.0.0.1', port: 0, poolSize: 0 }, { log: () => {} });
  const many: Sandbox = await service.startSandbox({ host: '127.0.0.1', port: 0, poolSize: 0 }, { log: () => {} });
  try {
    // In the session a request without the session header gets, as executeOverHttp sends them.
    const oneId = (await createContext(one.url)).id;
    const manyId = (await createContext(many.url)).id;
    for (let i = 1; i < IDLE_CONTEXTS; i++) {
      const session = `bench-idle-${i}`;
      await run(many.url, session, await newContext(many.url, session), '1+1');
    }
    await delay(3000);
    const times = await sampleInTurns(
      {
        one: () => executeOverHttp(one.url, oneId, '1+1'),
        many: () => executeOverHttp(many.url, manyId, '1+1'),
      },
      { warmup: 20, count: 200, rounds: 10 },
    );
    const a = summarize(times.one);
    const b = summarize(times.many);
    const ratio = b.p50 / a.p50;
    return [
      ['trivial execute, 1 context in the sandbox', formatSummary(a), '', ''],
      [`the same, ${IDLE_CONTEXTS - 1} idle contexts beside it`, formatSummary(b), `×${ratio.toFixed(2)}`, ratio <= 1.2 ? 'yes' : 'NO'],
    ];
  } finally {
    await Promise.all([one.close(), many.close()]);
  }
}

console.log(`code under test: ${src}\n`);
if (only.length === 0 || only.includes('memory')) {
  console.log(
    formatMarkdownTable([
      [`PSS per Python context (${MEMORY_CONTEXTS} contexts, 10 sessions, pool off)`, 'total', 'by kind (processes)', '≤ 35 MB'],
      ...(await memory()),
    ]),
  );
}
if (only.length === 0 || only.includes('idle')) {
  console.log(formatMarkdownTable([['execute p50 with idle contexts', 'p50 / p90 ms', 'ratio', '≤ ×1.2'], ...(await idleContexts())]));
}
