/**
 * `takeLargeBodiesInTurn(lanes, refuse)`: one tenant's large requests (a body over
 * LARGE_BODY_BYTES, or of unknown length) are read and acted on one after another in this
 * process, not all at once. Every byte of a request body is decoded, parsed, validated, sent
 * to the sandbox and parsed there again on the event loop all tenants share: ten 4 MB
 * run_code calls at a time (a security review's attack) kept it busy and grew the heap by hundreds
 * of MB, and another tenant's trivial run_code waited behind them (p99 ×12–×20 its idle one).
 * In turn, one tenant's large requests cost the others at most one at a time; small requests
 * (every ordinary tool call) never wait here.
 *
 * A request waits before its body is read (the bytes stay in the socket meanwhile). Its turn
 * comes when the one before it has been answered or has had the lane LANE_HOLD_MS, whichever
 * is first (a streamed run_code goes on for up to a minute once its code is in the sandbox),
 * and not before the bytes of the one before have had their time at LARGE_BODY_BYTES_PER_SECOND:
 * one at a time bounds the event loop's share at any moment, the rate bounds it over time
 * (back to back, one at a time still took 85% of it). At most MAX_WAITING wait per tenant: one
 * more is refused (429) at once. So a wait is bounded (MAX_WAITING turns of at most
 * max(LANE_HOLD_MS, MCP_MAX_BODY_BYTES' time) each: 8 s with the defaults, within
 * MCP_BODY_TIMEOUT_SECONDS' 30).
 *
 * The lanes are the only state: per tenant with a large request in progress, gone with its last.
 *
 * @example
 * const lanes = createLargeBodyLanes();
 * app.use('/mcp', bearer(auth), takeLargeBodiesInTurn(lanes, maxBodyBytes, (tenant) => errors.largeBodiesWaiting(tenant.id, MAX_WAITING, LARGE_BODY_BYTES)));
 */
import type { HttpBindings } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import { ANONYMOUS_TENANT, type Tenant, tenantKey } from '../auth/tenant.ts';
import type { TenantVariables } from './bearer-auth.ts';
import { holdUntilAnswered } from './tenant-requests.ts';

/** A body over this many bytes is large (a run_code's code, a write_file's content of that size are rare). */
export const LARGE_BODY_BYTES = 256 * 1024;
/** A large request has the lane until it is answered, or this long at most. */
export const LANE_HOLD_MS = 1_000;
/**
 * One tenant's large bodies start no faster than this many bytes a second: the next waits until
 * the bytes of the one before would have taken this long (a 4 MB body cost about 25 ms of the event
 * loop, so 8 MiB/s is about 5% of it).
 */
export const LARGE_BODY_BYTES_PER_SECOND = 8 * 1024 * 1024;
/** Large requests of one tenant that may wait for the lane; one more is refused. */
export const MAX_WAITING = 8;

interface Lane {
  busy: boolean;
  waiting: (() => void)[];
  /** When the bytes of the last large body let the next start (ms since the epoch). */
  nextAt: number;
}

export interface LargeBodyLanes {
  /** Waits for the tenant's turn for a body of `bytes`; its release (idempotent), or undefined when MAX_WAITING already wait. */
  enter(tenant: Tenant, bytes: number): Promise<(() => void) | undefined>;
}

export interface LaneOptions {
  holdMs?: number;
  bytesPerSecond?: number;
  maxWaiting?: number;
}

export function createLargeBodyLanes({
  holdMs = LANE_HOLD_MS,
  bytesPerSecond = LARGE_BODY_BYTES_PER_SECOND,
  maxWaiting = MAX_WAITING,
}: LaneOptions = {}): LargeBodyLanes {
  const lanes = new Map<string, Lane>();
  /** A lane nobody holds or waits for is forgotten once its spacing has passed. */
  const forgetLater = (key: string, lane: Lane) => {
    const forget = () => {
      if (!lane.busy && lane.waiting.length === 0 && lanes.get(key) === lane) lanes.delete(key);
    };
    const left = lane.nextAt - Date.now();
    if (left <= 0) forget();
    else setTimeout(forget, left).unref();
  };
  const releaser = (key: string, lane: Lane) => {
    let released = false;
    const timer = setTimeout(() => release(), holdMs);
    timer.unref();
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      const next = lane.waiting.shift();
      if (next) return next();
      lane.busy = false;
      forgetLater(key, lane);
    };
    return release;
  };
  return {
    async enter(tenant, bytes) {
      const key = tenantKey(tenant);
      let lane = lanes.get(key);
      if (!lane) {
        lane = { busy: false, waiting: [], nextAt: 0 };
        lanes.set(key, lane);
      }
      const taken = lane;
      if (taken.busy) {
        if (taken.waiting.length >= maxWaiting) return undefined;
        await new Promise<void>((resolve) => taken.waiting.push(resolve));
      } else {
        taken.busy = true;
      }
      const spacing = taken.nextAt - Date.now();
      if (spacing > 0) await new Promise((resolve) => setTimeout(resolve, spacing));
      taken.nextAt = Date.now() + (bytes / bytesPerSecond) * 1000;
      return releaser(key, taken);
    },
  };
}

/** The bytes of a large body (over LARGE_BODY_BYTES by its Content-Length, or of unknown length: `unknownBytes`), else 0. */
export function largeBodyBytes(request: Request, unknownBytes: number): number {
  if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS' || request.body === null) return 0;
  const length = request.headers.get('content-length');
  if (length === null) return unknownBytes;
  return Number(length) > LARGE_BODY_BYTES ? Number(length) : 0;
}

type Env = { Variables: Partial<TenantVariables>; Bindings: Partial<HttpBindings> };

/**
 * After the bearer middleware (which names the tenant) and the body limit (`maxBodyBytes`, what a
 * body of unknown length counts for). `refuse` shapes the 429.
 */
export function takeLargeBodiesInTurn(
  lanes: LargeBodyLanes,
  maxBodyBytes: number,
  refuse: (tenant: Tenant) => Response,
): MiddlewareHandler<Env> {
  return async function takeLargeBodiesInTurn(c, next) {
    const bytes = largeBodyBytes(c.req.raw, maxBodyBytes);
    if (bytes === 0) return next();
    const tenant = c.get('tenant') ?? ANONYMOUS_TENANT;
    const release = await lanes.enter(tenant, bytes);
    if (!release) return refuse(tenant);
    await holdUntilAnswered(c.env?.outgoing, release, next);
  };
}
