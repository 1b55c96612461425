/**
 * Context ids as the agent sees them: opaque, self-routing, integrity-protected, and
 * short (at most 64 characters for the sessions we name), since a model copies them
 * into every call.
 *
 * An id carries the sandbox session and the sandbox's own context id, so any
 * instance of the function can route it without remembering anything, and an HMAC
 * over both (CONTEXT_SECRET), so an invented or edited id is refused before any
 * sandbox call. It is deterministic: the same pair always gives the same id, which is
 * how `list_contexts` on any instance shows exactly the ids agents already hold.
 *
 * The caller's tenant is bound in: the HMAC covers it, so an id minted for one tenant
 * does not decode for another (it is simply unknown, with no sandbox call), while the
 * id itself does not show whose it is.
 *
 * Format: `ctx_` + base64url(payload ‖ tag), tag = the first 12 bytes (96 bits) of
 * HMAC-SHA256(secret, "ctx3" ‖ session id ‖ tenant ‖ payload). The payload is binary:
 *   session: 1 byte form, then a string field
 *     form 0: the session itself
 *     form 1: `${sessionId}-${tenant's tag}-${rest}` (direct mode's names): the rest
 *     form 2: `${tenant's tag}-${rest}` (FC mode's names): the rest
 *   context: a string field
 *   string field: 1 byte kind, then
 *     kind 0 (UTF-8), 1 (lowercase hex, bytes), 3 (base64url with "." for "_", bytes): 1 byte length, the bytes
 *     kind 2 (a lowercase UUID): its 16 bytes
 * What both sides know (the tenant's tag, the configured session id) is never written out.
 * Ids of the earlier JSON format are simply unknown.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { tenantTagOfKey } from '../auth/tenant.ts';

export interface ContextAddress {
  /** The sandbox session (routing key) that holds the context. */
  session: string;
  /** The sandbox service's own id of the context (the wire's `context_id`); never shown to agents. */
  sandboxContextId: string;
}

export interface ContextIdCodec {
  /** `tenant` is tenantKey(tenant) of the caller the id is for. */
  encode(address: ContextAddress, tenant: string): string;
  /** The address, or undefined when the id is malformed, tampered with, signed by another secret or another tenant's. */
  decode(id: string, tenant: string): ContextAddress | undefined;
}

export interface ContextIdOptions {
  /** Direct mode's configured session id (SANDBOX_SESSION_ID), which its session names start with. */
  sessionId?: string;
}

/** What every context id starts with (run ids and result handles swap it for their own). */
export const CONTEXT_ID_PREFIX = 'ctx_';
const TAG_BYTES = 12;
/** Longer than any id encode() makes (255-byte fields): anything longer is refused unread (and by the tools' schemas). */
export const MAX_ID_LENGTH = 1024;

/** Direct mode's one sandbox session when SANDBOX_SESSION_ID is unset. */
export const DEFAULT_SESSION_ID = 'default';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX = /^(?:[0-9a-f]{2})+$/;
const DOTTED_BASE64 = /^(?:[A-Za-z0-9.-]{4})+$/;

export function createContextIdCodec(secret: string, options: ContextIdOptions = {}): ContextIdCodec {
  if (secret.length < 16) throw new Error('context secret must be at least 16 characters');
  const sessionId = options.sessionId ?? DEFAULT_SESSION_ID;
  // The tenant and the session id (which form 1 leaves out) go in length-prefixed: no name
  // can end where another begins, and another deployment's ids are unknown, never misrouted.
  const domain = (tenant: string) => `ctx3.${sessionId.length}:${sessionId}.${tenant.length}:${tenant}.`;
  const tag = (payload: Buffer, tenant: string) =>
    createHmac('sha256', secret).update(domain(tenant)).update(payload).digest().subarray(0, TAG_BYTES);
  /** The session name prefixes we generate for this tenant, by form. */
  const forms = (tenant: string): [number, string][] => {
    const tenantTag = tenantTagOfKey(tenant);
    return [
      [1, `${sessionId}-${tenantTag}-`],
      [2, `${tenantTag}-`],
    ];
  };

  return {
    encode({ session, sandboxContextId }, tenant) {
      const named = forms(tenant).find(([, prefix]) => session.length > prefix.length && session.startsWith(prefix));
      const payload = Buffer.concat([
        Buffer.of(named?.[0] ?? 0),
        stringField(named ? session.slice(named[1].length) : session),
        stringField(sandboxContextId),
      ]);
      return `${CONTEXT_ID_PREFIX}${Buffer.concat([payload, tag(payload, tenant)]).toString('base64url')}`;
    },
    decode(id, tenant) {
      if (typeof id !== 'string' || id.length > MAX_ID_LENGTH || !id.startsWith(CONTEXT_ID_PREFIX)) return undefined;
      const text = id.slice(CONTEXT_ID_PREFIX.length);
      const bytes = Buffer.from(text, 'base64url');
      // Node's decoder skips what is not base64url: only the canonical spelling is ours.
      if (bytes.length <= TAG_BYTES || bytes.toString('base64url') !== text) return undefined;
      const payload = bytes.subarray(0, bytes.length - TAG_BYTES);
      if (!timingSafeEqual(bytes.subarray(bytes.length - TAG_BYTES), tag(payload, tenant))) return undefined;
      const reader = { bytes: payload, at: 1 };
      const form = payload[0];
      const stored = readStringField(reader);
      const sandboxContextId = readStringField(reader);
      // A valid tag over a malformed payload cannot come from encode(); refuse it like any other.
      if (stored === undefined || sandboxContextId === undefined || reader.at !== payload.length || !stored || !sandboxContextId)
        return undefined;
      if (form === 0) return { session: stored, sandboxContextId };
      const prefix = forms(tenant).find(([f]) => f === form)?.[1];
      return prefix === undefined ? undefined : { session: `${prefix}${stored}`, sandboxContextId };
    },
  };
}

function stringField(value: string): Buffer {
  if (UUID.test(value)) return Buffer.concat([Buffer.of(2), Buffer.from(value.replaceAll('-', ''), 'hex')]);
  if (HEX.test(value) && value.length / 2 <= 255) return withLength(1, Buffer.from(value, 'hex'));
  if (DOTTED_BASE64.test(value)) {
    const bytes = Buffer.from(value.replaceAll('.', '_'), 'base64url');
    if (bytes.toString('base64url').replaceAll('_', '.') === value && bytes.length <= 255) return withLength(3, bytes);
  }
  const utf8 = Buffer.from(value, 'utf8');
  if (utf8.length > 255) throw new Error(`a session or context id of ${utf8.length} bytes is longer than a context id can carry (255)`);
  return withLength(0, utf8);
}

function withLength(kind: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.of(kind, bytes.length), bytes]);
}

function readStringField(reader: { bytes: Buffer; at: number }): string | undefined {
  const { bytes } = reader;
  const kind = bytes[reader.at];
  if (kind === 2) {
    const raw = bytes.subarray(reader.at + 1, reader.at + 17);
    if (raw.length !== 16) return undefined;
    reader.at += 17;
    const hex = raw.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  const length = bytes[reader.at + 1];
  if (length === undefined) return undefined;
  const raw = bytes.subarray(reader.at + 2, reader.at + 2 + length);
  if (raw.length !== length) return undefined;
  reader.at += 2 + length;
  if (kind === 0) return raw.toString('utf8');
  if (kind === 1) return raw.toString('hex');
  if (kind === 3) return raw.toString('base64url').replaceAll('_', '.');
  return undefined;
}
