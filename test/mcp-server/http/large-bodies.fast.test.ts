/**
 * large-bodies.ts (fair sharing): one tenant's requests with a body over
 * LARGE_BODY_BYTES take their turn, one at a time, so that ten 4 MB run_code calls at once
 * cannot fill the event loop every tenant shares; small requests and other tenants' large ones
 * never wait behind them; the waiting is bounded in number (429 past it) and in time (a turn
 * ends when answered or after the hold). In-process: a Hono app with the middleware, and a
 * route that records how many large bodies it is reading at once.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { Hono } from 'hono';
import type { Tenant } from '../../../src/mcp-server/auth/tenant.ts';
import {
  createLargeBodyLanes,
  LARGE_BODY_BYTES,
  LARGE_BODY_BYTES_PER_SECOND,
  MAX_WAITING,
  takeLargeBodiesInTurn,
} from '../../../src/mcp-server/http/large-bodies.ts';

function appWith(lanes = createLargeBodyLanes(), routeMs = 50) {
  const inside = new Map<string, number>();
  const peak = new Map<string, number>();
  const app = new Hono<{ Variables: { tenant: Tenant } }>();
  app.use('*', async (c, next) => {
    c.set('tenant', { id: c.req.header('x-tenant') ?? 'anonymous', source: 'token' });
    await next();
  });
  app.use(
    '*',
    takeLargeBodiesInTurn(lanes, 8 * 1024 * 1024, (tenant) => new Response(`429 ${tenant.id}`, { status: 429 })),
  );
  app.post('/', async (c) => {
    const who = `${c.req.header('x-tenant')} ${(await c.req.text()).length > LARGE_BODY_BYTES ? 'large' : 'small'}`;
    inside.set(who, (inside.get(who) ?? 0) + 1);
    peak.set(who, Math.max(peak.get(who) ?? 0, inside.get(who)!));
    await sleep(routeMs);
    inside.set(who, inside.get(who)! - 1);
    return c.text(who);
  });
  const post = async (tenant: string, bytes: number) =>
    await app.request('/', { method: 'POST', headers: { 'x-tenant': tenant, 'content-length': String(bytes) }, body: 'x'.repeat(bytes) });
  return { post, peak };
}

const LARGE = 4 * 1024 * 1024;

describe('large request bodies, one tenant at a time', () => {
  test("one tenant's large requests are read one after another; its small ones and another tenant's large ones are not held", async () => {
    const { post, peak } = appWith(createLargeBodyLanes({ bytesPerSecond: 1024 ** 3 }));
    const started = performance.now();
    const answers = await Promise.all([
      ...Array.from({ length: 5 }, () => post('alice', LARGE)),
      ...Array.from({ length: 5 }, () => post('alice', 1000)),
      post('bob', LARGE),
    ]);
    assert.deepEqual(
      answers.map((a) => a.status),
      Array(11).fill(200),
    );
    assert.equal(peak.get('alice large'), 1, "alice's large bodies at once");
    assert.equal(peak.get('alice small'), 5, "alice's small requests are not held");
    assert.equal(peak.get('bob large'), 1);
    // Five of alice's in turn take five route times; bob's was not among them.
    assert.ok(performance.now() - started >= 5 * 50 - 5);
  });

  test(`past ${MAX_WAITING} waiting, one more large request of the tenant is refused at once (429); another tenant's is not`, async () => {
    const { post } = appWith(createLargeBodyLanes({ bytesPerSecond: 1024 ** 3 }), 300);
    const held = Array.from({ length: 1 + MAX_WAITING }, () => post('alice', LARGE));
    await sleep(20);
    const refused = await post('alice', LARGE);
    assert.equal(refused.status, 429);
    assert.match(await refused.text(), /alice/);
    const bobs = await post('bob', LARGE);
    assert.equal(bobs.status, 200);
    assert.deepEqual(
      (await Promise.all(held)).map((a) => a.status),
      Array(1 + MAX_WAITING).fill(200),
    );
  });

  test('a turn ends after the hold even while its answer goes on (a streamed run), so the next is not held for its whole run', async () => {
    const { post, peak } = appWith(createLargeBodyLanes({ holdMs: 50, bytesPerSecond: 1024 ** 3 }), 400);
    const started = performance.now();
    await Promise.all([post('alice', LARGE), post('alice', LARGE), post('alice', LARGE)]);
    // In turn to their ends they would take 3 × 400 ms; with the hold, the next starts 50 ms after.
    assert.ok(performance.now() - started < 3 * 400, `${(performance.now() - started).toFixed(0)} ms`);
    assert.ok((peak.get('alice large') ?? 0) >= 2);
  });

  test("while the tenant's turn is taken, its small requests pass and its large one waits", async () => {
    const lanes = createLargeBodyLanes({ holdMs: 10_000 });
    const { post } = appWith(lanes, 10);
    const release = await lanes.enter({ id: 'alice', source: 'token' }, LARGE);
    assert.ok(release);
    const small = await Promise.race([post('alice', 100).then((a) => a.status), sleep(1000).then(() => 'held')]);
    assert.equal(small, 200);
    const large = Promise.race([post('alice', LARGE).then((a) => a.status), sleep(300).then(() => 'held')]);
    assert.equal(await large, 'held');
    release();
  });

  test(`one tenant's large bodies start no faster than their bytes at the rate (${LARGE_BODY_BYTES_PER_SECOND / 1024 / 1024} MiB/s by default), even answered at once`, async () => {
    const { post } = appWith(createLargeBodyLanes({ bytesPerSecond: 10 * 1024 * 1024 }), 0);
    const started = performance.now();
    for (let i = 0; i < 3; i++) assert.equal((await post('alice', LARGE)).status, 200);
    // Three 4 MiB bodies at 10 MiB/s: the 2nd and 3rd wait 400 ms each behind the one before.
    const ms = performance.now() - started;
    assert.ok(ms >= 2 * 400 - 5, `${ms.toFixed(0)} ms`);
    // Bob's first waits for nobody: it is answered before alice's next, which waits its 400 ms
    // (an order, not a time: on a busy host a 4 MiB body alone took over 100 ms).
    const answered: string[] = [];
    const answer = (tenant: string) =>
      post(tenant, LARGE).then((response) => {
        assert.equal(response.status, 200);
        answered.push(tenant);
      });
    await Promise.all([answer('alice'), answer('bob')]);
    assert.deepEqual(answered, ['bob', 'alice'], "bob's first large body waits for nobody");
  });
});
