/**
 * Every error response of the HTTP edge is built here: a JSON-RPC error object
 * (`{"jsonrpc":"2.0","error":{"code","message"},"id":null}`) with the HTTP status
 * that goes with it, so a client sees one shape whether auth, the body limit, the
 * Host guard, the router or the MCP layer refused it.
 *
 * These are not the program's Refusal (refusal.ts), whose kinds name why a tool call failed
 * inside a successful JSON-RPC answer: an edge refusal comes before any tool is reached, in
 * JSON-RPC's own vocabulary (the codes below, the status beside them), which is what MCP
 * clients read; the middleware returns it as a response rather than throwing it. Giving these
 * a tool kind too would put a new field on the wire for no client that reads it.
 */

/** JSON-RPC codes used at the edge (the MCP layer's own come from the SDK). */
export const RpcCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** Server-defined: a refusal at the transport level (method, size, origin). */
  refused: -32000,
  /** Server-defined: no valid credential. */
  unauthorized: -32001,
} as const;

export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 406 | 408 | 413 | 415 | 429 | 500 | 503;

export function rpcErrorBody(code: number, message: string): string {
  return JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
}

export function rpcError(status: ErrorStatus, code: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(rpcErrorBody(code, message), { status, headers: { 'content-type': 'application/json', ...headers } });
}

export const errors = {
  unauthorized: (reason: string, challenge: string) =>
    rpcError(401, RpcCode.unauthorized, `Unauthorized: ${reason}`, { 'WWW-Authenticate': challenge }),
  /** A valid token without a scope this resource requires (RFC 6750 §3.1 insufficient_scope). */
  insufficientScope: (reason: string, challenge: string) =>
    rpcError(403, RpcCode.unauthorized, `Forbidden: ${reason}`, { 'WWW-Authenticate': challenge }),
  /** Something we depend on for the answer (the authorization server's keys) is unreachable. */
  unavailable: (reason: string) => rpcError(503, RpcCode.refused, `Service Unavailable: ${reason}`, { 'Retry-After': '10' }),
  badAuthorization: (challenge: string) =>
    rpcError(400, RpcCode.invalidRequest, 'Bad Request: the Authorization header must be "Bearer <token>"', {
      'WWW-Authenticate': challenge,
    }),
  // The body is left unread: closing the connection keeps its bytes from being read as
  // the kept-alive client's next request (the client opens a fresh connection).
  tooLarge: (maxBytes: number, what = 'the request body') =>
    rpcError(413, RpcCode.refused, `Payload Too Large: ${what} must not exceed ${maxBytes} bytes`, { Connection: 'close' }),
  /** The tenant already has its share of this process's requests in progress (tenant-requests.ts). */
  tooManyRequests: (tenant: string, max: number) =>
    rpcError(
      429,
      RpcCode.refused,
      `Too Many Requests: tenant "${tenant}" already has ${max} requests in progress here, the most one tenant may (MCP_MAX_REQUESTS_PER_TENANT); retry once one has answered`,
      // Closed after it: a refused request whose body still trickles in holds no connection.
      { 'Retry-After': '1', Connection: 'close' },
    ),
  /** The tenant's large requests already wait their turn (large-bodies.ts). */
  largeBodiesWaiting: (tenant: string, waiting: number, overBytes: number) =>
    rpcError(
      429,
      RpcCode.refused,
      `Too Many Requests: tenant "${tenant}" already has ${waiting} requests over ${overBytes} bytes waiting here behind one in progress (a tenant's large requests are served one at a time); retry once one has answered`,
      { 'Retry-After': '1', Connection: 'close' },
    ),
  notLocal: (header: 'Host' | 'Origin', value: string) =>
    rpcError(403, RpcCode.refused, `Forbidden: ${header} "${value}" is not local; this server only accepts local requests`),
  methodNotAllowed: (message: string, allow: string) => rpcError(405, RpcCode.refused, `Method not allowed: ${message}`, { Allow: allow }),
  parse: (detail: string) => rpcError(400, RpcCode.parseError, `Parse error: ${detail}`),
  invalidRequest: (message: string) => rpcError(400, RpcCode.invalidRequest, message),
  notFound: (method: string, path: string, hint: string) => rpcError(404, RpcCode.methodNotFound, `Not found: ${method} ${path}; ${hint}`),
  internal: () => rpcError(500, RpcCode.internalError, 'Internal error'),
};
