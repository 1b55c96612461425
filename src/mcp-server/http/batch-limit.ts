/**
 * The most messages one JSON-RPC batch may hold, on /mcp and /invoke alike. A 2025-03-26
 * client may batch (later revisions dropped batching), and the SDK serves a batch's requests
 * at once: each message may cost sandbox calls (a tools/call, a cancel that reaches every
 * session of the tenant), so a batch is one request's work times its length. A batch of
 * 20,000 cancels once cost 20,000 session listings and more interrupts, all at once. Real
 * clients send one message per POST; a batch over this is refused before anything in it is
 * acted on (the SDK's own limit, 100, is checked only after this route has acted on cancels).
 */
import { errors } from './errors.ts';

export const MAX_BATCH_MESSAGES = 16;

/** The 400 for a batch over MAX_BATCH_MESSAGES, else undefined. */
export function oversizedBatch(body: unknown, what = 'a JSON-RPC batch'): Response | undefined {
  if (!Array.isArray(body) || body.length <= MAX_BATCH_MESSAGES) return undefined;
  return errors.invalidRequest(
    `Invalid Request: ${what} of ${body.length} messages; this server takes at most ${MAX_BATCH_MESSAGES} in one batch (send the rest in other requests)`,
  );
}
