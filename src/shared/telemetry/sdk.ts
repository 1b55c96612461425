/**
 * The OpenTelemetry SDK wired as settings.ts describes: a tracer provider with a bounded
 * batch span processor and a meter provider with a periodic reader, each exporting over
 * OTLP/HTTP in protobuf or JSON. Nothing is registered globally: each program passes its
 * Telemetry down, so two apps in one process (the tests) keep their telemetry apart.
 * Loaded only through telemetry.ts's loadTelemetry.
 */
import { type Context, defaultTextMapGetter, ROOT_CONTEXT } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { commonJsExports } from '../common-js.ts';
import type { TelemetrySettings } from './settings.ts';
import type { Telemetry } from './types.ts';

/** The instrumentation scope every span and metric of this repository carries. */
const SCOPE = 'fc-code-interpreter';

/** OTEL_TRACES_SAMPLER's samplers (the SDK of this version leaves reading it to its caller). */
function samplerOf(settings: TelemetrySettings): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(settings.samplerRatio);
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

async function spanExporterOf(settings: TelemetrySettings): Promise<SpanExporter> {
  // CommonJS packages: the FC bundle's chunks give their exports as `default` only.
  const { OTLPTraceExporter } = commonJsExports<typeof import('@opentelemetry/exporter-trace-otlp-proto')>(
    settings.tracesProtocol === 'http/json'
      ? await import('@opentelemetry/exporter-trace-otlp-http')
      : await import('@opentelemetry/exporter-trace-otlp-proto'),
  );
  return new OTLPTraceExporter({ url: settings.tracesUrl, headers: settings.tracesHeaders, timeoutMillis: settings.requestTimeoutMs });
}

async function metricExporterOf(settings: TelemetrySettings): Promise<PushMetricExporter> {
  const { OTLPMetricExporter } = commonJsExports<typeof import('@opentelemetry/exporter-metrics-otlp-proto')>(
    settings.metricsProtocol === 'http/json'
      ? await import('@opentelemetry/exporter-metrics-otlp-http')
      : await import('@opentelemetry/exporter-metrics-otlp-proto'),
  );
  return new OTLPMetricExporter({ url: settings.metricsUrl, headers: settings.metricsHeaders, timeoutMillis: settings.requestTimeoutMs });
}

/** Resolves when `work` settles or after `ms`, whichever is first; never rejects. */
async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export async function startTelemetry(settings: TelemetrySettings): Promise<Telemetry> {
  // Export failures go to the SDK's diag logger, silent unless one is set: a collector that
  // is down must never become an error line per call.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': settings.serviceName }))
    .merge(detectResources({ detectors: [envDetector] }));

  const tracerProvider = new TracerProvider({
    resource,
    sampler: samplerOf(settings),
    spanProcessors: settings.tracesUrl
      ? [
          new BatchSpanProcessor({
            exporter: await spanExporterOf(settings),
            maxQueueSize: settings.maxQueuedSpans,
            maxExportBatchSize: settings.maxExportBatchSize,
            scheduledDelayMillis: settings.scheduleDelayMs,
            exportTimeoutMillis: settings.exportTimeoutMs,
          }),
        ]
      : [],
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: settings.metricsUrl
      ? [
          new PeriodicExportingMetricReader({
            exporter: await metricExporterOf(settings),
            exportIntervalMillis: settings.metricExportIntervalMs,
            exportTimeoutMillis: Math.min(30_000, settings.metricExportIntervalMs),
          }),
        ]
      : [],
  });
  const propagator = new W3CTraceContextPropagator();

  return {
    tracer: tracerProvider.getTracer(SCOPE),
    meter: meterProvider.getMeter(SCOPE),
    extract: (carrier: Readonly<Record<string, unknown>>): Context => propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter),
    inject(context, set) {
      propagator.inject(context, set, { set: (carrier, key, value) => carrier(key, value) });
    },
    // Spans only: metrics are cumulative, so what a frozen instance holds goes out with its next export.
    flush: () => bounded(tracerProvider.forceFlush(), settings.flushTimeoutMs),
    async shutdown() {
      await bounded(Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]), settings.flushTimeoutMs);
    },
  };
}
