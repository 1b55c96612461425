/**
 * The most messages one JSON-RPC batch may hold, on /mcp and /invoke alike. A 2025-03-26
 * client may batch (later revisions dropped batching), and the SDK serves a batch's requests
 * at once: each message may cost sandbox calls (a tools/call, a cancel that reaches every
 * session of the tenant), so a batch is one request's work times its length. A batch of
 * 20,000 cancels once cost 20,000 session listings and more interrupts, all at once. Real
 * clients send one message per POST; a batch over this is refused before anything in it is
 * acted on (the SDK's own limit, 100, is checked only after this route has acted on cancels),
 * and before it is parsed: `batchOverLimit` reads the body's text only as far as the message
 * after the last one allowed (JSON.parse of that 1.5 MB batch, refused after it, held the event
 * loop every tenant shares for tens of milliseconds each time).
 */
import { errors } from './errors.ts';

export const MAX_BATCH_MESSAGES = 16;

/** The refusal's words, for /mcp's 400 and /invoke's error alike. */
export function batchLimitMessage(what: string, count: number | 'more'): string {
  const size = count === 'more' ? `more than ${MAX_BATCH_MESSAGES}` : String(count);
  return `${what} of ${size} messages; this server takes at most ${MAX_BATCH_MESSAGES} in one batch (send the rest in other requests)`;
}

/** The 400 for a batch over MAX_BATCH_MESSAGES, else undefined. */
export function oversizedBatch(body: unknown, what = 'a JSON-RPC batch'): Response | undefined {
  if (!Array.isArray(body) || body.length <= MAX_BATCH_MESSAGES) return undefined;
  return errors.invalidRequest(`Invalid Request: ${batchLimitMessage(what, body.length)}`);
}

/** The 400 for a body whose text is a batch of more than MAX_BATCH_MESSAGES (batchOverLimit), else undefined. */
export function oversizedBatchText(text: string, what = 'a JSON-RPC batch'): Response | undefined {
  if (!batchOverLimit(text)) return undefined;
  return errors.invalidRequest(`Invalid Request: ${batchLimitMessage(what, 'more')}`);
}

const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * True when `text` is (as far as it is read) a JSON array of more than `max` elements: the
 * commas between top-level elements are counted, strings and nested values skipped, and the
 * reading stops at the one past `max`. Nothing is built, so a long batch costs only the bytes
 * read up to there. A text that is not an array, or not JSON, is left to JSON.parse (which
 * alone decides what is accepted): this only refuses early.
 */
export function batchOverLimit(text: string, max = MAX_BATCH_MESSAGES): boolean {
  let i = 0;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== OPEN_ARRAY) return false;
  let depth = 0;
  let commas = 0;
  let inString = false;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth++;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      if (--depth === 0) return false;
    } else if (c === COMMA && depth === 1 && ++commas >= max) {
      return true;
    }
  }
  return false;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0xfeff;
}
