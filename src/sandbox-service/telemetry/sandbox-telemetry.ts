/**
 * `createSandboxTelemetry(telemetry)`: the sandbox service's SandboxTelemetry (types.ts). The
 * request's span context reaches the executions it starts through an AsyncLocalStorage this
 * object owns, so the contexts and runs need no parameter for it.
 *
 * Spans: `{method} {route}` (SERVER) per request; under /execute, `code_interpreter.queue` (the
 * wait behind another run for the context's kernel) and `code_interpreter.execute {language}`
 * (the kernel's execution: its execution count and outcome). Metrics: executions and their
 * duration by language and outcome, kernels taken (pool hit or boot), live contexts, spare
 * kernels, the memory contexts hold by language (total, largest, count), refusals by route and status. Never code, output or file contents.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ServerResponse } from 'node:http';
import { type Context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { SANDBOX_ERROR_NAMES, type ExecutionEvent } from '../../protocol/sandbox-api.ts';
import type { Telemetry } from '../../shared/telemetry/types.ts';
import { urlTemplate } from '../../shared/telemetry/url-template.ts';
import type { CodeContext, ExecuteParams } from '../contexts/code-context.ts';
import type { SandboxTelemetry } from './types.ts';

const SANDBOX_ERRORS = new Set<string>(Object.values(SANDBOX_ERROR_NAMES));

/** An execution's outcome as a low-cardinality name: ok, one of the sandbox's own errors, or code_error (the code raised). */
function outcomeOf(errorName: string | undefined): string {
  if (errorName === undefined) return 'ok';
  return SANDBOX_ERRORS.has(errorName) ? errorName : 'code_error';
}

export function createSandboxTelemetry(telemetry: Telemetry): SandboxTelemetry {
  const { tracer, meter } = telemetry;
  const active = new AsyncLocalStorage<Context>();
  const executions = meter.createCounter('code_interpreter.executions', { description: 'Executions by language and outcome' });
  const executionDuration = meter.createHistogram('code_interpreter.execution.duration', {
    unit: 's',
    description: "A kernel's execution of a run's code, from when it had the kernel to its end",
    advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] },
  });
  const queueDuration = meter.createHistogram('code_interpreter.queue.duration', {
    unit: 's',
    description: 'How long an execution waited for its context (behind another run, or a restart)',
    advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60] },
  });
  const kernels = meter.createCounter('code_interpreter.kernels.taken', {
    description: 'Kernels given to new contexts: pre-started (pool.hit) or booted',
  });
  const refusals = meter.createCounter('code_interpreter.refusals', { description: 'Requests refused, by route and HTTP status' });
  const contextsGauge = meter.createObservableGauge('code_interpreter.contexts.active', { description: 'Live contexts' });
  const sparesGauge = meter.createObservableGauge('code_interpreter.pool.spares', {
    description: 'Pre-started kernels waiting for a context',
  });
  // Per language rather than per context: a context id as an attribute would make a series per context.
  const memoryGauge = meter.createObservableGauge('code_interpreter.contexts.memory', {
    unit: 'By',
    description: "Memory the live contexts of a language hold together: their kernels' process trees (resident) and private /tmp",
  });
  const memoryMaxGauge = meter.createObservableGauge('code_interpreter.context.memory.max', {
    unit: 'By',
    description: 'Memory the largest live context of a language holds (as code_interpreter.contexts.memory counts it)',
  });
  const countGauge = meter.createObservableGauge('code_interpreter.contexts.count', {
    description: 'Live contexts of a language (code_interpreter.contexts.memory divided by it: the memory per context)',
  });

  const traceRequests: MiddlewareHandler = async (c, next) => {
    const parent = telemetry.extract({ traceparent: c.req.header('traceparent'), tracestate: c.req.header('tracestate') });
    const route = urlTemplate(c.req.path);
    const span = tracer.startSpan(
      `${c.req.method} ${route}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': c.req.method, 'http.route': route } },
      parent,
    );
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    const end = (status: number) => {
      span.setAttribute('http.response.status_code', status);
      if (status >= 400) {
        span.setAttribute('error.type', String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
        refusals.add(1, { 'http.route': route, 'http.response.status_code': status });
      }
      span.end();
    };
    try {
      await active.run(trace.setSpan(parent, span), next);
    } finally {
      // A streamed answer (execute's NDJSON, written to Node's response directly) ends with its stream.
      if (outgoing && !outgoing.writableEnded) outgoing.once('close', () => end(outgoing.statusCode));
      else end(outgoing?.headersSent ? outgoing.statusCode : c.res.status);
    }
  };

  function execute(context: CodeContext, params: ExecuteParams): Promise<void> {
    const parent = active.getStore() ?? ROOT_CONTEXT;
    const language = context.language;
    const waited = performance.now();
    const queue = tracer.startSpan('code_interpreter.queue', { attributes: { 'code_interpreter.language': language } }, parent);
    let kernel: Span | undefined;
    let started = 0;
    let executionCount: number | undefined;
    let errorName: string | undefined;
    const traced: ExecuteParams = {
      ...params,
      async onStart() {
        queue.end();
        queueDuration.record((performance.now() - waited) / 1000, { 'code_interpreter.language': language });
        started = performance.now();
        kernel = tracer.startSpan(
          `code_interpreter.execute ${language}`,
          { attributes: { 'code_interpreter.language': language } },
          parent,
        );
        await params.onStart?.();
      },
      emit(event: ExecutionEvent) {
        if (event.type === 'number_of_executions') executionCount = event.execution_count;
        else if (event.type === 'error') errorName ??= event.name;
        params.emit(event);
      },
    };
    return context.execute(traced).then(
      () => finish(),
      (error: unknown) => {
        errorName ??= SANDBOX_ERROR_NAMES.context;
        finish();
        throw error;
      },
    );

    function finish() {
      const outcome = outcomeOf(errorName);
      if (!kernel) {
        // Never had the kernel: the client left, the run was cancelled, or the context went away while it waited.
        queue.setAttribute('code_interpreter.outcome', outcome);
        queue.end();
        return;
      }
      kernel.setAttribute('code_interpreter.outcome', outcome);
      if (executionCount !== undefined) kernel.setAttribute('code_interpreter.execution_count', executionCount);
      if (outcome !== 'ok') {
        kernel.setAttribute('error.type', outcome);
        kernel.setStatus({ code: SpanStatusCode.ERROR });
      }
      kernel.end();
      const attributes = { 'code_interpreter.language': language, 'code_interpreter.outcome': outcome };
      executions.add(1, attributes);
      executionDuration.record((performance.now() - started) / 1000, attributes);
    }
  }

  return {
    traceRequests,
    traced: (context) => ({ execute: (params) => execute(context, params) }),
    kernelTaken(hit) {
      kernels.add(1, { 'code_interpreter.pool.hit': hit });
      trace.getSpan(active.getStore() ?? ROOT_CONTEXT)?.setAttribute('code_interpreter.pool.hit', hit);
    },
    observe(figures, memory) {
      meter.addBatchObservableCallback(
        (result) => {
          const { contexts, spareKernels } = figures();
          result.observe(contextsGauge, contexts);
          result.observe(sparesGauge, spareKernels);
        },
        [contextsGauge, sparesGauge],
      );
      if (!memory) return;
      meter.addBatchObservableCallback(
        async (result) => {
          const byLanguage = new Map<string, { total: number; max: number; count: number }>();
          for (const { language, bytes } of await memory().catch(() => [])) {
            const figures = byLanguage.get(language) ?? { total: 0, max: 0, count: 0 };
            figures.total += bytes;
            figures.max = Math.max(figures.max, bytes);
            figures.count += 1;
            byLanguage.set(language, figures);
          }
          for (const [language, { total, max, count }] of byLanguage) {
            const attributes = { 'code_interpreter.language': language };
            result.observe(memoryGauge, total, attributes);
            result.observe(memoryMaxGauge, max, attributes);
            result.observe(countGauge, count, attributes);
          }
        },
        [memoryGauge, memoryMaxGauge, countGauge],
      );
    },
    shutdown: () => telemetry.shutdown(),
  };
}
