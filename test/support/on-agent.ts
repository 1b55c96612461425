/**
 * One HTTP request on a node:http agent, answered in full: the tests that need a kept-alive
 * connection they control (fetch pools its own) send through it.
 */
import { type Agent, request as httpRequest } from 'node:http';

export function onAgent(
  agent: Agent,
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; connection: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
