/**
 * `createPrecomputedAnswers()`: the answers to tools/list, initialize and server/discover, which
 * are the same for every caller and every request of a deployment, kept per request shape once
 * the SDK has given one, and served again with only the JSON-RPC id changed. A repeated tools/list
 * then costs no MCP server, transport, zod parse or response stream (about half of what the SDK's
 * path cost per request in bench/README.md's profile).
 *
 * The SDK stays the one that decides an answer: a shape's first request goes through it, and only
 * a 200 that is a JSON-RPC result with the request's own id is kept. The shape is everything the
 * SDK reads to answer these methods (the method, the whole `params`, and the headers it validates
 * or negotiates with), so a request that differs in any of them is the SDK's again. Nothing here
 * is about a caller: auth, the tenant cap and the body limit run before the route, and these
 * answers name no tenant or context (a tool listing that varied by caller could not be kept here).
 * Bounded: at most MAX_SHAPES shapes per process; past that, new shapes are the SDK's.
 */

/** The methods whose answer depends only on the request's shape, never on the caller. */
const CALLER_FREE_METHODS = new Set(['tools/list', 'initialize', 'server/discover']);

/** The request headers the SDK reads for these methods (negotiation, the 2026-07-28 header checks, content types). */
const SHAPE_HEADERS = ['accept', 'content-type', 'mcp-protocol-version', 'mcp-method', 'mcp-name'] as const;

/** Shapes kept per process: what clients really send is a handful (each era, a few client versions). */
export const MAX_SHAPES = 32;

/** A shape longer than this (a huge `params`) is not kept. */
const MAX_SHAPE_LENGTH = 4096;

/** An answer longer than this is not read to be kept (tools/list is about 33 KB). */
const MAX_ANSWER_BYTES = 256 * 1024;

type JsonRpcId = string | number;

interface KeptAnswer {
  /** The answer's text before and after its id. */
  before: string;
  after: string;
  status: number;
  headers: [string, string][];
  era?: 'modern' | 'legacy';
}

/** A request this module may answer: its shape, and the id to answer with. */
export interface AnswerableRequest {
  shape: string;
  id: JsonRpcId;
}

export interface PrecomputedAnswers {
  /** The shape of a request these answers may serve, or undefined (a batch, a notification, another method). */
  answerable(body: unknown, headers: Headers): AnswerableRequest | undefined;
  /** The kept answer for this request, with its id, or undefined when its shape has none yet. */
  answer(request: AnswerableRequest): { response: Response; era?: 'modern' | 'legacy' } | undefined;
  /**
   * Keeps the SDK's answer to `request` when it is a JSON-RPC result for its id; returns a response
   * with the same status, headers and bytes for the caller.
   */
  keep(request: AnswerableRequest, response: Response, era: 'modern' | 'legacy' | undefined): Promise<Response>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The answer's text around the id, when `text` (JSON, or one SSE message event) is a result for `id`. */
function splitAtId(text: string, id: JsonRpcId, sse: boolean): { before: string; after: string } | undefined {
  const data = sse ? /^event: message\ndata: (.*)\n\n$/s.exec(text)?.[1] : text;
  if (data === undefined) return undefined;
  let message: unknown;
  try {
    message = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (!isPlainObject(message) || message.id !== id || !('result' in message) || 'error' in message) return undefined;
  const needle = `"id":${JSON.stringify(id)}`;
  const at = text.lastIndexOf(needle);
  if (at < 0) return undefined;
  const before = text.slice(0, at + needle.length - JSON.stringify(id).length);
  const after = text.slice(at + needle.length);
  // The id must be the message's own (its last member), not text inside the result.
  if (after !== (sse ? '}\n\n' : '}')) return undefined;
  return { before, after };
}

export function createPrecomputedAnswers(): PrecomputedAnswers {
  const kept = new Map<string, KeptAnswer>();
  return {
    answerable(body, headers) {
      if (!isPlainObject(body)) return undefined;
      const { jsonrpc, id, method, params, ...rest } = body;
      if (jsonrpc !== '2.0' || typeof method !== 'string' || !CALLER_FREE_METHODS.has(method)) return undefined;
      if (Object.keys(rest).length > 0 || (typeof id !== 'string' && typeof id !== 'number')) return undefined;
      if (params !== undefined && !isPlainObject(params)) return undefined;
      const shape = JSON.stringify([method, params ?? null, ...SHAPE_HEADERS.map((name) => headers.get(name))]);
      return shape.length <= MAX_SHAPE_LENGTH ? { shape, id } : undefined;
    },
    answer({ shape, id }) {
      const answer = kept.get(shape);
      if (!answer) return undefined;
      return {
        response: new Response(`${answer.before}${JSON.stringify(id)}${answer.after}`, { status: answer.status, headers: answer.headers }),
        era: answer.era,
      };
    },
    async keep({ shape, id }, response, era) {
      if (kept.size >= MAX_SHAPES || kept.has(shape) || response.status !== 200 || !response.body) return response;
      const type = response.headers.get('content-type') ?? '';
      const sse = type.startsWith('text/event-stream');
      const length = Number(response.headers.get('content-length') ?? 0);
      if ((!sse && !type.startsWith('application/json')) || length > MAX_ANSWER_BYTES) return response;
      const text = await response.text();
      const headers = [...response.headers].filter(([name]) => name !== 'content-length');
      const parts = text.length <= MAX_ANSWER_BYTES ? splitAtId(text, id, sse) : undefined;
      if (parts && kept.size < MAX_SHAPES) kept.set(shape, { ...parts, status: response.status, headers, era });
      return new Response(text, { status: response.status, statusText: response.statusText, headers });
    },
  };
}
