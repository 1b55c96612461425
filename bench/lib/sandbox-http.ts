/** The sandbox service as a client sees it over HTTP: create a context, run code to end_of_execution. */
import { readLines } from '../../src/mcp-server/sandbox-client/execution.ts';
import { parseExecutionEvent, type Context } from '../../src/protocol/sandbox-api.ts';

export async function createContext(baseUrl: string, language = 'python'): Promise<Context> {
  const response = await fetch(new URL('/contexts', baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ language }),
  });
  if (!response.ok) throw new Error(`POST /contexts answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Context;
}

export async function deleteContext(baseUrl: string, id: string): Promise<void> {
  const response = await fetch(new URL(`/contexts/${encodeURIComponent(id)}`, baseUrl), { method: 'DELETE' });
  await response.arrayBuffer();
  if (!response.ok && response.status !== 404) throw new Error(`DELETE /contexts/${id} answered ${response.status}`);
}

/**
 * POST /execute and reads the NDJSON stream through end_of_execution, as the MCP
 * side's client does; resolves with the main result's text. Throws on an error event.
 */
export async function executeOverHttp(baseUrl: string, contextId: string, code: string): Promise<string | undefined> {
  const response = await fetch(new URL('/execute', baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code, context_id: contextId }),
  });
  if (!response.ok || !response.body) throw new Error(`POST /execute answered ${response.status}: ${await response.text()}`);
  let value: string | undefined;
  let ended = false;
  // Read to the end of the body even after end_of_execution: leaving early would
  // cancel the response, which the server takes as a client gone mid-stream.
  for await (const line of readLines(response.body)) {
    const event = parseExecutionEvent(line);
    if (!event) continue;
    if (event.type === 'error') throw new Error(`execute failed: ${event.name}: ${event.value}`);
    if (event.type === 'result' && event.is_main_result) value = event.text;
    if (event.type === 'end_of_execution') ended = true;
  }
  if (!ended) throw new Error('the /execute stream ended without end_of_execution');
  return value;
}

/** GET /health: one HTTP round trip with no kernel behind it. */
export async function healthCheck(baseUrl: string): Promise<void> {
  const response = await fetch(new URL('/health', baseUrl));
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`GET /health answered ${response.status}`);
}
