/**
 * How a call to FC's Session API fails, apart from the client that makes the calls
 * (fc.ts): the tools' failure model (mcp/tool-failure.ts) recognises it without
 * loading the FC implementation.
 */

export type SessionApiOperation = 'CreateSession' | 'ListSessions' | 'DeleteSession';

/**
 * A Session API call that failed, with one line saying which call, on which
 * function, what FC answered (status, code, message, request id) and what to check.
 */
export class FcSessionApiError extends Error {
  override name = 'FcSessionApiError';
  constructor(
    message: string,
    readonly operation: SessionApiOperation,
    /** HTTP status FC answered; undefined when no answer came (network, timeout). */
    readonly status?: number,
    /** FC's error code, e.g. `FunctionNotFound`. */
    readonly code?: string,
  ) {
    super(message);
  }
}
