/**
 * What a tool answers for each refusal it catches (failureOf), as the wire carries it: the
 * kind, the message and the details, in their order. Errors that are not refusals are bugs
 * and are thrown on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PublicFetchError } from '../../../src/mcp-server/net/public-fetch.ts';
import { Refusal } from '../../../src/mcp-server/refusal.ts';
import { failureOf } from '../../../src/mcp-server/tools/tool-failure.ts';

/** The result as a client reads it off the wire. */
function wire(error: unknown, contextId?: string): string {
  return JSON.stringify(failureOf(error, contextId));
}

function expected(kind: string, message: string, details: Record<string, unknown> = {}): string {
  return JSON.stringify({
    content: [{ type: 'text', text: message }],
    structuredContent: { error: { kind, message, ...details } },
    isError: true,
  });
}

test('a context the sandbox does not know, asked for by its id, is an unknown context', () => {
  assert.equal(
    wire(new Refusal('sandbox_not_found', 'unknown or expired context', { status: 404 }), 'ctx_1'),
    expected(
      'unknown_context',
      'unknown or expired context "ctx_1": it was stopped or its sandbox session ended. Call create_context for a new one.',
      { status: 404 },
    ),
  );
  assert.equal(
    wire(new Refusal('sandbox_not_found', 'unknown or expired context', { status: 404 })),
    expected('sandbox_not_found', 'unknown or expired context', { status: 404 }),
  );
});

test("the sandbox's refusals keep their message and the status it answered", () => {
  assert.equal(
    wire(new Refusal('too_many_contexts', '20 live contexts, the tenant quota', { status: 429 }), 'ctx_1'),
    expected('too_many_contexts', '20 live contexts, the tenant quota', { status: 429 }),
  );
  assert.equal(
    wire(new Refusal('too_many_runs', 'too many runs: 8 waiting', { status: 429 })),
    expected('too_many_runs', 'too many runs: 8 waiting', { status: 429 }),
  );
  assert.equal(
    wire(new Refusal('network_refused', 'network policy refused: example.com', { status: 400 })),
    expected('network_refused', 'network policy refused: example.com', { status: 400 }),
  );
  assert.equal(
    wire(new Refusal('network_refused', 'network policy refused: this sandbox does not support per-context network policies')),
    expected('network_refused', 'network policy refused: this sandbox does not support per-context network policies'),
  );
  assert.equal(
    wire(new Refusal('sandbox_timeout', 'create context: the sandbox timed out (HTTP 504)', { status: 504 })),
    expected('sandbox_timeout', 'create context: the sandbox timed out (HTTP 504)', { status: 504 }),
  );
  assert.equal(
    wire(new Refusal('sandbox_file_not_found', 'no such file or directory: a.txt', { status: 404 }), 'ctx_1'),
    expected('sandbox_file_not_found', 'no such file or directory: a.txt', { status: 404 }),
  );
  assert.equal(
    wire(new Refusal('sandbox_no_file_api', 'read file: this sandbox has no file API', { status: 404 })),
    expected('sandbox_no_file_api', 'read file: this sandbox has no file API', { status: 404 }),
  );
  assert.equal(
    wire(new Refusal('sandbox_http', 'list contexts: the sandbox answered HTTP 500', { status: 500 })),
    expected('sandbox_http', 'list contexts: the sandbox answered HTTP 500', { status: 500 }),
  );
});

test('what came without an answer carries no status', () => {
  assert.equal(
    wire(new Refusal('sandbox_unreachable', 'sandbox unreachable at http://127.0.0.1:1 (ECONNREFUSED)')),
    expected('sandbox_unreachable', 'sandbox unreachable at http://127.0.0.1:1 (ECONNREFUSED)'),
  );
  assert.equal(wire(new Refusal('cancelled', 'run code: cancelled')), expected('cancelled', 'run code: cancelled'));
  assert.equal(wire(new Refusal('sandbox_protocol', 'run code: bad line')), expected('sandbox_protocol', 'run code: bad line'));
});

test("the caller's cap of contexts", () => {
  assert.equal(
    wire(new Refusal('too_many_contexts', 'you have 3 live contexts (MCP_MAX_CONTEXTS_PER_TENANT=3); stop one')),
    expected('too_many_contexts', 'you have 3 live contexts (MCP_MAX_CONTEXTS_PER_TENANT=3); stop one'),
  );
});

test('a failed FC Session API call names the call, with what FC answered', () => {
  assert.equal(
    wire(
      new Refusal('session_api', 'FC Session API CreateSession on function "f" failed: HTTP 403 SignatureDoesNotMatch', {
        operation: 'CreateSession',
        status: 403,
        code: 'SignatureDoesNotMatch',
      }),
    ),
    expected(
      'session_api',
      'sandbox sessions (FC Session API CreateSession): FC Session API CreateSession on function "f" failed: HTTP 403 SignatureDoesNotMatch',
      { operation: 'CreateSession', status: 403, code: 'SignatureDoesNotMatch' },
    ),
  );
  assert.equal(
    wire(new Refusal('session_api', 'FC session mode has no credentials', { operation: 'ListSessions' })),
    expected('session_api', 'sandbox sessions (FC Session API ListSessions): FC session mode has no credentials', {
      operation: 'ListSessions',
    }),
  );
});

test("write_file's fetch: too large is file_too_large, the rest fetch_failed, without the URL's status", () => {
  assert.equal(
    wire(new PublicFetchError('http', '127.0.0.1 answered HTTP 404 Not Found for /a.csv; check the URL', 404), 'ctx_1'),
    expected('fetch_failed', '127.0.0.1 answered HTTP 404 Not Found for /a.csv; check the URL'),
  );
  assert.equal(
    wire(new PublicFetchError('too_large', '127.0.0.1 sent more than 1000 bytes')),
    expected('file_too_large', '127.0.0.1 sent more than 1000 bytes'),
  );
});

test('anything else is a bug, thrown on', () => {
  const bug = new TypeError('x is undefined');
  assert.throws(() => failureOf(bug, 'ctx_1'), bug);
});
