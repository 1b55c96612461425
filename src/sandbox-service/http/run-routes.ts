/**
 * The routes of runs (protocol.ts RUN_ROUTES, an extension): reading a held run's events with a
 * long-poll, interrupting one run, and interrupting every run of a session that carries a tag.
 */
import type { Context as HonoContext, Hono } from 'hono';
import type { z } from 'zod';
import {
  InterruptTaggedRequest,
  type InterruptedRuns,
  RUN_ROUTES,
  RunEventsRequest,
  type RunEvents,
  type RunStatus,
} from '../../protocol/sandbox-api.ts';
import type { Run, Runs } from '../contexts/executions.ts';
import { Refusal } from '../refusal.ts';

export interface RunRoutesDeps {
  runs: Runs;
  sessionOf(c: HonoContext): string;
  parseBody<S extends z.ZodType>(c: HonoContext, schema: S): Promise<z.output<S>>;
}

export function addRunRoutes(app: Hono, { runs, sessionOf, parseBody }: RunRoutesDeps): void {
  const runOf = (c: HonoContext): Run | Response => {
    const id = c.req.param('id') ?? '';
    return (
      runs.get(sessionOf(c), id) ??
      new Refusal(
        'not_found',
        `unknown run "${id}": it never existed here, or it ended and was read, expired, or left unread among too many (the oldest go first)`,
      ).getResponse()
    );
  };

  app.post(RUN_ROUTES.interruptTagged, async (c) => {
    const { tag, early } = await parseBody(c, InterruptTaggedRequest);
    return c.json({ interrupted: runs.interruptTagged(sessionOf(c), tag, early ?? true) } satisfies z.input<typeof InterruptedRuns>);
  });

  app.post(RUN_ROUTES.events, async (c) => {
    const run = runOf(c);
    if (run instanceof Response) return run;
    const request = await parseBody(c, RunEventsRequest);
    await run.waitBeyond(request.after ?? run.cursor, (request.wait_seconds ?? 0) * 1000, request.until === 'end');
    const read = await runs.read(run, request.after);
    if (!read) return new Refusal('gone', `events before position ${request.after} were read already and are gone`).getResponse();
    return c.json({
      run_id: run.id,
      status: run.state,
      context_id: run.contextId,
      events: read.events,
      next: read.next,
      ...(run.contextDiscarded ? { context_discarded: true } : {}),
      ...(run.discardContext ? { discard_context: true } : {}),
    } satisfies z.input<typeof RunEvents>);
  });

  app.post(RUN_ROUTES.interrupt, (c) => {
    const run = runOf(c);
    if (run instanceof Response) return run;
    run.interrupt();
    return c.json({ run_id: run.id, status: run.state, context_id: run.contextId } satisfies z.input<typeof RunStatus>);
  });
}
