import { z } from 'zod';
import { HEALTH_STATUSES } from '../sandbox/client.ts';
import { defineTool, toolResult } from './tool-definition.ts';

export const healthCheck = defineTool({
  name: 'health_check',
  title: 'Check the sandbox',
  description:
    `Checks whether the code sandbox behind this server answers. Returns status (${listStatuses()}), the sandbox URL, ` +
    'the HTTP response code, the latency in milliseconds and a timestamp. ' +
    'Use it when other tools report the sandbox unreachable; it does not run code or change anything.',
  inputSchema: z.object({}),
  outputSchema: z.object({
    status: z.enum(HEALTH_STATUSES),
    sandbox_url: z.string(),
    response_code: z.number().int().nullable(),
    latency_ms: z.number(),
    timestamp: z.string(),
    error: z.string().nullable(),
  }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(_args, deps) {
    const report = await deps.sandbox.health();
    const structured = {
      status: report.status,
      sandbox_url: report.url,
      response_code: report.responseCode ?? null,
      latency_ms: report.latencyMs,
      timestamp: new Date().toISOString(),
      error: report.error ?? null,
    };
    const text =
      `sandbox ${report.status} at ${report.url}` +
      (report.responseCode !== undefined ? ` (HTTP ${report.responseCode})` : '') +
      ` in ${report.latencyMs} ms` +
      (report.error ? `: ${report.error}` : '');
    return toolResult(structured, text);
  },
});

/** `"healthy", "unhealthy", "timeout" or "connection_error"` */
function listStatuses(): string {
  const quoted = HEALTH_STATUSES.map((status) => `"${status}"`);
  return `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}
