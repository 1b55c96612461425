/**
 * The attacker process of the fair-sharing check (started by fair-sharing.ts's underAttack with
 * an IPC channel): alice's attacks of the findings named in FAIR_FINDINGS against FAIR_MCP_URL.
 * It makes every context and starts what each attack prepares, says `ready`, runs the attacks
 * until told `stop`, waits for their clean-up (bounded), sends its `reports` and exits. It exits
 * too if its parent goes. Not a test file itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { aliceContext, ATTACKS, type AttackReport, type AttackTarget, startFileServer } from './fair-attacks.ts';

/** What the attacker sends its parent. */
export type AttackerMessage =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { type: 'reports'; reports: { name: string; finding: string; bursts: number; notes: string[] }[] };

const send = (message: AttackerMessage) => process.send?.(message);
const findings = (process.env.FAIR_FINDINGS ?? '').split(',').filter(Boolean);
const cleanUpMs = Number(process.env.FAIR_CLEAN_UP_MS ?? 30_000);
const attacks = ATTACKS.filter((attack) => findings.includes(attack.finding));
process.once('disconnect', () => process.exit(0));

const files = await startFileServer();
const target: AttackTarget = { url: process.env.FAIR_MCP_URL!, filesOrigin: files.origin };
const stop = new AbortController();
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stop') stop.abort();
});
const reports = attacks.map(() => ({ bursts: 0, notes: new Set<string>() }) as AttackReport);
try {
  const contexts: string[] = [];
  const prepared: string[] = [];
  for (const attack of attacks) {
    const context = attack.context ? await aliceContext(target, attack.context) : '';
    contexts.push(context);
    prepared.push((await attack.prepare?.(target, context)) ?? '');
  }
  const running = attacks.map((attack, i) =>
    attack
      .run(target, stop.signal, reports[i]!, contexts[i]!, prepared[i]!)
      .catch((error: unknown) => reports[i]!.notes.add(`threw ${String(error)}`.slice(0, 160))),
  );
  send({ type: 'ready' });
  await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
  await Promise.race([Promise.all(running), sleep(cleanUpMs)]);
  send({
    type: 'reports',
    reports: attacks.map((attack, i) => ({
      name: attack.name,
      finding: attack.finding,
      bursts: reports[i]!.bursts,
      notes: [...reports[i]!.notes],
    })),
  });
} catch (error) {
  send({ type: 'failed', error: String(error) });
} finally {
  files.close();
  process.disconnect?.();
}
