/**
 * A stand-in for the FC 3.0 OpenAPI's Session endpoints, for tests only: the cloud
 * cannot be reached from here, so the real SDK signs and sends its requests to this
 * server, which checks them as FC would (method, path, query, body, and the
 * ACS3-HMAC-SHA256 signature, recomputed from the documented algorithm with the
 * secret it handed out) and keeps sessions in memory.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandInCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

export interface StandInSession {
  sessionId: string;
  functionName: string;
  qualifier: string;
  sessionStatus: 'Active' | 'Expired';
  sessionTTLInSeconds: number;
  sessionIdleTimeoutInSeconds: number;
  createdTime: string;
  lastModifiedTime: string;
}

export interface StandInRequest {
  action: string;
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  accessKeyId: string;
}

export interface FcOpenApiStandIn {
  /** `127.0.0.1:<port>`, for the SDK's `endpoint` (with protocol http). */
  endpoint: string;
  /** Functions that exist; others answer 404 FunctionNotFound. */
  functions: Set<string>;
  sessions: Map<string, StandInSession>;
  /** Every request that passed the signature check, in order. */
  accepted: StandInRequest[];
  /** Every request refused, with FC's error code. */
  refused: { path: string; code: string }[];
  close(): Promise<void>;
}

export interface StandInOptions {
  credentials: StandInCredentials;
  functions: string[];
  /** The largest page ListSessions answers, whatever limit is asked (FC caps it too). */
  maxPageSize?: number;
}

const API_VERSION = '2023-03-30';
const ALGORITHM = 'ACS3-HMAC-SHA256';
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** RFC 3986 percent-encoding, as the V3 signature documentation requires for query names and values. */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Which checks apply: the OpenAPI signs host, content-type and a body hash; an HTTP trigger signs x-acs-date with an empty payload. */
export type SignatureKind = 'openapi' | 'trigger';

/**
 * The V3 signature check: canonical request = method, canonical URI, canonical
 * query string, canonical headers, signed headers, hashed payload (each on its own
 * line); string to sign = algorithm + hex(sha256(canonical request)); signature =
 * hex(HMAC-SHA256(secret, string to sign)). For the OpenAPI the signed headers must
 * cover host, every x-acs-* header and content-type; for an HTTP trigger (FC's
 * documented scheme) x-acs-date and x-acs-security-token, and the payload line is empty.
 * Throws ApiError (FC's code and status) when the request does not verify.
 */
export function verifyAcs3Signature(
  req: IncomingMessage,
  parts: { rawPath: string; rawQuery: string; body: Buffer },
  credentials: StandInCredentials,
  kind: SignatureKind,
  seenNonces?: Set<string>,
): string {
  const authorization = header(req, 'authorization');
  const match = authorization?.match(/^(\S+) Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)$/);
  if (!match) throw new ApiError(401, 'InvalidAuthorization', 'the Authorization header is missing or malformed');
  const [, algorithm, accessKeyId, signedHeaderList, signature] = match as unknown as [string, string, string, string, string];
  if (algorithm !== ALGORITHM) throw new ApiError(401, 'InvalidAuthorization', `unsupported signature algorithm ${algorithm}`);
  if (accessKeyId !== credentials.accessKeyId)
    throw new ApiError(403, 'InvalidAccessKeyId.NotFound', `access key ${accessKeyId} does not exist`);

  const signedHeaders = signedHeaderList.split(';');
  const mustSign =
    kind === 'openapi'
      ? Object.keys(req.headers).filter((h) => h === 'host' || h === 'content-type' || h.startsWith('x-acs-'))
      : ['x-acs-date', ...(credentials.securityToken ? ['x-acs-security-token'] : [])];
  const missing = mustSign.filter((h) => !signedHeaders.includes(h));
  if (missing.length > 0) throw new ApiError(400, 'IncompleteSignature', `headers not signed: ${missing.join(', ')}`);
  if ([...signedHeaders].sort().join(';') !== signedHeaderList)
    throw new ApiError(400, 'IncompleteSignature', 'SignedHeaders must be sorted');

  let payloadLine = '';
  if (kind === 'openapi') {
    payloadLine = sha256Hex(parts.body);
    if (header(req, 'x-acs-content-sha256') !== payloadLine)
      throw new ApiError(400, 'ContentSHA256Mismatch', 'x-acs-content-sha256 does not match the body');
  }

  const date = Date.parse(header(req, 'x-acs-date') ?? '');
  if (!Number.isFinite(date) || Math.abs(Date.now() - date) > MAX_CLOCK_SKEW_MS)
    throw new ApiError(400, 'InvalidTimeStamp.Expired', 'x-acs-date is missing or skewed');
  const nonce = header(req, 'x-acs-signature-nonce');
  if (kind === 'openapi' && (!nonce || seenNonces?.has(nonce)))
    throw new ApiError(400, 'SignatureNonceUsed', 'x-acs-signature-nonce is missing or was used before');

  if (credentials.securityToken && header(req, 'x-acs-security-token') !== credentials.securityToken) {
    throw new ApiError(403, 'InvalidSecurityToken.Mismatch', 'x-acs-security-token is missing or wrong');
  }

  const canonicalQuery = parts.rawQuery
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const [name = '', value = ''] = pair.split('=');
      return [rfc3986(decodeURIComponent(name)), rfc3986(decodeURIComponent(value.replace(/\+/g, ' ')))] as const;
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const canonicalHeaders = signedHeaders.map((h) => `${h}:${(header(req, h) ?? '').trim()}\n`).join('');
  const canonicalRequest = [req.method, parts.rawPath || '/', canonicalQuery, canonicalHeaders, signedHeaderList, payloadLine].join('\n');
  const stringToSign = `${ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
  const expected = createHmac('sha256', credentials.accessKeySecret).update(stringToSign).digest();
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new ApiError(403, 'SignatureDoesNotMatch', 'the request signature does not match the signature the server computed');
  }
  if (nonce) seenNonces?.add(nonce);
  return accessKeyId;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  const requestId = randomUUID();
  if (body === undefined) {
    res.writeHead(status, { 'x-acs-request-id': requestId }).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'x-acs-request-id': requestId }).end(JSON.stringify(body));
}

export async function startFcOpenApiStandIn(options: StandInOptions): Promise<FcOpenApiStandIn> {
  const functions = new Set(options.functions);
  const sessions = new Map<string, StandInSession>();
  const accepted: StandInRequest[] = [];
  const refused: { path: string; code: string }[] = [];
  const seenNonces = new Set<string>();
  const maxPageSize = options.maxPageSize ?? 100;

  function route(
    method: string,
    path: string,
    query: Record<string, string>,
    body: unknown,
    action: string,
  ): { status: number; body?: unknown } {
    const m = path.match(/^\/2023-03-30\/functions\/([^/]+)\/sessions(?:\/([^/]+))?$/);
    if (!m) throw new ApiError(404, 'PathNotSupported', `no API at ${method} ${path}`);
    const functionName = decodeURIComponent(m[1]!);
    const sessionId = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    const expectAction = (name: string) => {
      if (action !== name) throw new ApiError(400, 'InvalidAction', `x-acs-action is ${action}, expected ${name}`);
    };
    if (!functions.has(functionName)) throw new ApiError(404, 'FunctionNotFound', `function '${functionName}' does not exist`);
    const qualifier = query.qualifier ?? 'LATEST';

    if (method === 'POST' && sessionId === undefined) {
      expectAction('CreateSession');
      const input = (body ?? {}) as Record<string, unknown>;
      const ttl = input.sessionTTLInSeconds;
      const idle = input.sessionIdleTimeoutInSeconds;
      if (typeof ttl !== 'number' || ttl < 1 || ttl > 21600)
        throw new ApiError(400, 'InvalidArgument', 'sessionTTLInSeconds must be 1..21600');
      if (typeof idle !== 'number' || idle < 0 || idle > 21600)
        throw new ApiError(400, 'InvalidArgument', 'sessionIdleTimeoutInSeconds must be 0..21600');
      // A caller may name its session (CreateSessionInput.sessionId); the stand-in takes letters, digits and "-".
      const named = input.sessionId;
      if (named !== undefined && (typeof named !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(named)))
        throw new ApiError(400, 'InvalidArgument', 'sessionId must be 1-64 letters, digits or "-"');
      if (typeof named === 'string' && sessions.has(named)) throw new ApiError(409, 'SessionAlreadyExists', `session ${named} exists`);
      const now = new Date().toISOString();
      const session: StandInSession = {
        sessionId: typeof named === 'string' ? named : randomUUID().replace(/-/g, ''),
        functionName,
        qualifier,
        sessionStatus: 'Active',
        sessionTTLInSeconds: ttl,
        sessionIdleTimeoutInSeconds: idle,
        createdTime: now,
        lastModifiedTime: now,
      };
      sessions.set(session.sessionId, session);
      return { status: 200, body: session };
    }
    if (method === 'GET' && sessionId === undefined) {
      expectAction('ListSessions');
      const limit = Math.min(Number(query.limit ?? 20), maxPageSize);
      let matching = [...sessions.values()].filter((s) => s.functionName === functionName && s.qualifier === qualifier);
      if (query.sessionStatus) matching = matching.filter((s) => s.sessionStatus === query.sessionStatus);
      const start = query.nextToken ? matching.findIndex((s) => s.sessionId === query.nextToken) : 0;
      if (start < 0) throw new ApiError(400, 'InvalidArgument', `nextToken ${query.nextToken} is not valid`);
      const page = matching.slice(start, start + limit);
      const next = matching[start + limit];
      return { status: 200, body: { sessions: page, ...(next ? { nextToken: next.sessionId } : {}) } };
    }
    if (method === 'DELETE' && sessionId !== undefined) {
      expectAction('DeleteSession');
      const session = sessions.get(sessionId);
      if (!session || session.functionName !== functionName)
        throw new ApiError(404, 'SessionNotFound', `session '${sessionId}' does not exist`);
      sessions.delete(sessionId);
      return { status: 204 };
    }
    throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed on ${path}`);
  }

  const server = createServer(async (req, res) => {
    const [rawPath = '', rawQuery = ''] = (req.url ?? '').split('?');
    try {
      const body = await readBody(req);
      if (header(req, 'x-acs-version') !== API_VERSION) throw new ApiError(400, 'InvalidVersion', `x-acs-version must be ${API_VERSION}`);
      const accessKeyId = verifyAcs3Signature(req, { rawPath, rawQuery, body }, options.credentials, 'openapi', seenNonces);
      let parsed: unknown;
      if (body.length > 0) {
        if (!header(req, 'content-type')?.startsWith('application/json'))
          throw new ApiError(415, 'UnsupportedMediaType', 'the body must be JSON');
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          throw new ApiError(400, 'InvalidJSON', 'the body is not valid JSON');
        }
      }
      const query = Object.fromEntries(new URLSearchParams(rawQuery));
      const action = header(req, 'x-acs-action') ?? '';
      const path = rawPath;
      const answer = route(req.method ?? '', path, query, parsed, action);
      accepted.push({ action, method: req.method ?? '', path, query, body: parsed, accessKeyId });
      send(res, answer.status, answer.body);
    } catch (error) {
      const e = error instanceof ApiError ? error : new ApiError(500, 'InternalError', String(error));
      refused.push({ path: rawPath, code: e.code });
      send(res, e.status, { Code: e.code, Message: e.message, RequestId: randomUUID() });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `127.0.0.1:${port}`,
    functions,
    sessions,
    accepted,
    refused,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
