/**
 * Fair sharing under attack (the security review's attacks on what tenants share): tenant bob's trivial run_code on `npm start`'s stack
 * (the local main, its own sandbox service) while tenant alice runs each attack of the review
 * alone, then all at once; p50 and p99 against bob's on the idle server measured right before
 * each line, and the ratio of the p99s (the target: at most ×3, and no error). Not a test:
 * test/e2e/fair-sharing.test.ts asserts the all-at-once line. The attacks are
 * test/support/fair-attacks.ts's, run from a process of their own.
 */
import { ATTACKS, type Attack, startFairStack, timeBob, underAttack } from '../test/support/fair-sharing.ts';
import { percentile } from './lib/stats.ts';

const RUNS = 1000;
/** Bob's runs under one attack stop after this, however few. */
const MAX_MS = 60_000;

const stack = await startFairStack();
const rows: string[] = [];
const ms = (value: number) => `${value.toFixed(1)} ms`;
try {
  await timeBob(stack, 10);
  // `npx tsx bench/fair-sharing.bench.ts 7 9`: only those findings' lines; `… all`: only the all-at-once line.
  const only = process.argv.slice(2);
  const lines: { name: string; attacks: Attack[] }[] = [
    ...ATTACKS.filter((attack) => only.length === 0 || only.includes(attack.finding)).map((attack) => ({
      name: `finding ${attack.finding}: ${attack.name}`,
      attacks: [attack],
    })),
    ...(only.length === 0 || only.includes('all') ? [{ name: 'all of them at once', attacks: ATTACKS }] : []),
  ];
  for (const line of lines) {
    const idle = await timeBob(stack, RUNS);
    const { result: attacked } = await underAttack(stack, line.attacks, () => timeBob(stack, RUNS, MAX_MS));
    const idleP99 = percentile(idle.samples, 0.99);
    const attackedP99 = percentile(attacked.samples, 0.99);
    const ratio = attackedP99 / idleP99;
    const met = ratio <= 3 && attacked.errors.length === 0;
    rows.push(
      `| ${line.name} | ${ms(percentile(attacked.samples, 0.5))} / ${ms(attackedP99)} (${attacked.samples.length} runs, ${attacked.errors.length} errors) | ${ms(percentile(idle.samples, 0.5))} / ${ms(idleP99)} | ×${ratio.toFixed(2)} | ≤ ×3, no error | ${met ? 'yes' : 'NO'} |`,
    );
    console.error(rows.at(-1));
    if (attacked.errors[0]) console.error(`  first error: ${attacked.errors[0]}`);
  }
} finally {
  await stack.close();
}
console.log("| alice's attack | bob's run_code p50 / p99 under it | idle p50 / p99 (just before) | ratio of p99s | target | met |");
console.log('|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
console.log(
  `\n${RUNS} runs of bob's per line (at most ${MAX_MS / 1000} s under attack); node ${process.version}, load average ${(
    await import('node:os')
  )
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} at the end.`,
);
