import { z } from 'zod';
import { HEALTH_STATUSES, type HealthStatus, type SandboxClient } from '../sandbox-client/client.ts';
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
    const answer = await sandboxHealth(deps.sandbox);
    return toolResult(answer, healthText(answer));
  },
});

/** What health_check answers; GET /health_check answers the same (src/mcp-server/http/health.ts). */
export interface HealthAnswer {
  status: HealthStatus;
  sandbox_url: string;
  response_code: number | null;
  latency_ms: number;
  timestamp: string;
  error: string | null;
  [key: string]: unknown;
}

export async function sandboxHealth(sandbox: Pick<SandboxClient, 'health'>): Promise<HealthAnswer> {
  const report = await sandbox.health();
  return {
    status: report.status,
    sandbox_url: report.url,
    response_code: report.responseCode ?? null,
    latency_ms: report.latencyMs,
    timestamp: new Date().toISOString(),
    error: report.error ?? null,
  };
}

function healthText(answer: HealthAnswer): string {
  return (
    `sandbox ${answer.status} at ${answer.sandbox_url}` +
    (answer.response_code !== null ? ` (HTTP ${answer.response_code})` : '') +
    ` in ${answer.latency_ms} ms` +
    (answer.error ? `: ${answer.error}` : '')
  );
}

/** `"healthy", "unhealthy", "timeout" or "connection_error"` */
function listStatuses(): string {
  const quoted = HEALTH_STATUSES.map((status) => `"${status}"`);
  return `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}
