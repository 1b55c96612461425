/**
 * A loopback OTLP/HTTP receiver for the telemetry tests: takes /v1/traces and /v1/metrics in
 * protobuf (decoded with the OTLP definitions the OpenTelemetry project generates for protobufjs,
 * the `otlp-proto-0.57` dev dependency) or JSON, and keeps the spans and metric names it got.
 * It can answer slowly, refuse, or stop, as a collector that is down would.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';

type Root = {
  opentelemetry: {
    proto: {
      collector: {
        trace: { v1: { ExportTraceServiceRequest: ProtoType } };
        metrics: { v1: { ExportMetricsServiceRequest: ProtoType } };
      };
    };
  };
};
type ProtoType = { decode(bytes: Uint8Array): unknown; toObject(message: unknown, options: Record<string, unknown>): unknown };
const root = createRequire(import.meta.url)('otlp-proto-0.57/build/src/generated/root.js') as Root;
const { trace, metrics } = root.opentelemetry.proto.collector;

export type AttributeValue = string | number | boolean | undefined;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, AttributeValue>;
  /** The resource's attributes (service.name, …). */
  resource: Record<string, AttributeValue>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  durationMs: number;
}

export interface ReceivedMetric {
  name: string;
  service: AttributeValue;
  /** The attributes of each data point. */
  points: Record<string, AttributeValue>[];
  /** Each data point's value, for a gauge or a sum (in the order of `points`). */
  values: (number | undefined)[];
}

export interface OtlpReceiver {
  /** e.g. http://127.0.0.1:4318 (what OTEL_EXPORTER_OTLP_ENDPOINT takes) */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  readonly metrics: ReceivedMetric[];
  /** Content types of the exports received, in order. */
  readonly contentTypes: string[];
  /** How it answers from now on: 'ok', 'refuse' (503) or 'hang' (never answers). */
  mode: 'ok' | 'refuse' | 'hang';
  /** Resolves once a span matching `test` has arrived (rejects after timeoutMs). */
  waitForSpan(test: (span: ReceivedSpan) => boolean, timeoutMs?: number): Promise<ReceivedSpan>;
  close(): Promise<void>;
}

function hex(id: unknown): string {
  if (typeof id === 'string') return id.toLowerCase();
  if (id instanceof Uint8Array) return Buffer.from(id).toString('hex');
  return '';
}

function attributeValue(value: Record<string, unknown> | undefined): AttributeValue {
  if (!value) return undefined;
  if ('stringValue' in value) return value.stringValue as string;
  if ('boolValue' in value) return value.boolValue as boolean;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return Number(value.doubleValue);
  return JSON.stringify(value);
}

function attributesOf(list: unknown): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const { key, value } of (list ?? []) as { key: string; value?: Record<string, unknown> }[]) out[key] = attributeValue(value);
  return out;
}

const nanos = (v: unknown) => Number(v ?? 0) / 1e6;

type Json = any;

function spansOf(request: Json): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name,
          kind: Number(s.kind ?? 0),
          attributes: attributesOf(s.attributes),
          resource,
          statusCode: Number(s.status?.code ?? 0),
          durationMs: nanos(s.endTimeUnixNano) - nanos(s.startTimeUnixNano),
        });
      }
    }
  }
  return out;
}

function metricsOf(request: Json): ReceivedMetric[] {
  const out: ReceivedMetric[] = [];
  for (const rm of request.resourceMetrics ?? []) {
    const service = attributesOf(rm.resource?.attributes)['service.name'];
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const data = m.histogram ?? m.sum ?? m.gauge ?? m.exponentialHistogram ?? {};
        const points: Json[] = data.dataPoints ?? [];
        out.push({
          name: m.name,
          service,
          points: points.map((p) => attributesOf(p.attributes)),
          values: points.map((p) => ((p.asInt ?? p.asDouble) === undefined ? undefined : Number(p.asInt ?? p.asDouble))),
        });
      }
    }
  }
  return out;
}

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const received: ReceivedMetric[] = [];
  const contentTypes: string[] = [];
  const waiters = new Set<() => void>();
  const hung = new Set<ServerResponse>();
  const server: Server = createServer(async (request, response) => {
    const body = await bodyOf(request);
    if (receiver.mode === 'hang') {
      hung.add(response);
      return;
    }
    if (receiver.mode === 'refuse') {
      response.writeHead(503).end();
      return;
    }
    const type = request.headers['content-type'] ?? '';
    contentTypes.push(type);
    const protobuf = type.includes('protobuf');
    const options = { longs: String, bytes: Array, defaults: false };
    if (request.url === '/v1/traces') {
      const message = protobuf
        ? trace.v1.ExportTraceServiceRequest.toObject(trace.v1.ExportTraceServiceRequest.decode(body), { ...options, bytes: Buffer })
        : JSON.parse(body.toString('utf8'));
      spans.push(...spansOf(message));
    } else if (request.url === '/v1/metrics') {
      const message = protobuf
        ? metrics.v1.ExportMetricsServiceRequest.toObject(metrics.v1.ExportMetricsServiceRequest.decode(body), options)
        : JSON.parse(body.toString('utf8'));
      received.push(...metricsOf(message));
    }
    response.writeHead(200, { 'content-type': protobuf ? 'application/x-protobuf' : 'application/json' });
    response.end(protobuf ? Buffer.alloc(0) : '{}');
    for (const wake of waiters) wake();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const receiver: OtlpReceiver = {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    metrics: received,
    contentTypes,
    mode: 'ok',
    async waitForSpan(test, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = spans.find(test);
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no such span within ${timeoutMs} ms; got: ${spans.map((s) => s.name).join(', ')}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, Math.min(left, 200));
          waiters.add(wake);
        });
      }
    },
    async close() {
      for (const response of hung) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}
