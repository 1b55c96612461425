/**
 * `tracedFetch(telemetry, parent, fetch)`: the fetch a request's sandbox client (ky) calls, one
 * CLIENT span per HTTP attempt (each retry its own), `traceparent` sent with each so the sandbox
 * service continues the trace. A fetch rather than ky's hooks: ky's hooks do not see a call that
 * fails before an answer (refused, reset, timed out). A streamed answer (execute's NDJSON, held
 * runs' events) ends its span when the stream ends, so the span covers the run.
 */
import { type Context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Telemetry } from '../../shared/telemetry/types.ts';
import { urlTemplate } from '../../shared/telemetry/url-template.ts';

function endWhenRead(response: Response, span: Span): Response {
  const reader = response.body!.getReader();
  let over = false;
  const end = (error?: string) => {
    if (over) return;
    over = true;
    if (error) {
      span.setAttribute('error.type', error);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        end(error instanceof Error ? error.name : 'stream_error');
        controller.error(error);
      }
    },
    cancel(reason) {
      end('cancelled');
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

export function tracedFetch(telemetry: Telemetry, parent: Context, base: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const template = urlTemplate(url.pathname);
    const span = telemetry.tracer.startSpan(
      `${request.method} ${template}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': request.method,
          'url.template': template,
          'server.address': url.hostname,
          'server.port': Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
        },
      },
      parent,
    );
    telemetry.inject(trace.setSpan(parent, span), (name, value) => request.headers.set(name, value));
    let response: Response;
    try {
      response = await base(request, input instanceof Request ? init : undefined);
    } catch (error) {
      span.setAttribute('error.type', error instanceof Error ? error.name : 'fetch_error');
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      throw error;
    }
    span.setAttribute('http.response.status_code', response.status);
    if (response.status >= 400) {
      span.setAttribute('error.type', String(response.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    const type = response.headers.get('content-type') ?? '';
    if (response.body && (type.includes('ndjson') || type.startsWith('text/event-stream'))) return endWhenRead(response, span);
    span.end();
    return response;
  };
}
