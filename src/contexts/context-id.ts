/**
 * Context ids as the agent sees them: opaque, self-routing, integrity-protected.
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
 * Format: `ctx_<payload>.<tag>`, payload = base64url(JSON [session, context]),
 * tag = first 16 bytes of HMAC-SHA256(secret, "ctx2." + tenant + "." + payload), base64url.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface ContextAddress {
  /** The sandbox session (routing key) that holds the context. */
  session: string;
  /** The sandbox's own context id. */
  context: string;
}

export interface ContextIdCodec {
  /** `tenant` is tenantKey(tenant) of the caller the id is for. */
  encode(address: ContextAddress, tenant: string): string;
  /** The address, or undefined when the id is malformed, tampered with, signed by another secret or another tenant's. */
  decode(id: string, tenant: string): ContextAddress | undefined;
}

const PREFIX = 'ctx_';
const TAG_BYTES = 16;
const MAX_ID_LENGTH = 1024;

export function createContextIdCodec(secret: string): ContextIdCodec {
  if (secret.length < 16) throw new Error('context secret must be at least 16 characters');
  // The tenant goes in length-prefixed: no tenant name can end where another begins.
  const tag = (payload: string, tenant: string) =>
    createHmac('sha256', secret).update(`ctx2.${tenant.length}:${tenant}.${payload}`).digest().subarray(0, TAG_BYTES);

  return {
    encode({ session, context }, tenant) {
      const payload = Buffer.from(JSON.stringify([session, context])).toString('base64url');
      return `${PREFIX}${payload}.${tag(payload, tenant).toString('base64url')}`;
    },
    decode(id, tenant) {
      if (typeof id !== 'string' || id.length > MAX_ID_LENGTH || !id.startsWith(PREFIX)) return undefined;
      const dot = id.lastIndexOf('.');
      if (dot < PREFIX.length) return undefined;
      const payload = id.slice(PREFIX.length, dot);
      const given = Buffer.from(id.slice(dot + 1), 'base64url');
      if (given.length !== TAG_BYTES || !timingSafeEqual(given, tag(payload, tenant))) return undefined;
      try {
        const value: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
        if (
          Array.isArray(value) &&
          value.length === 2 &&
          typeof value[0] === 'string' &&
          typeof value[1] === 'string' &&
          value[0] &&
          value[1]
        ) {
          return { session: value[0], context: value[1] };
        }
      } catch {
        // a valid tag over a malformed payload cannot come from encode(); refuse it like any other
      }
      return undefined;
    },
  };
}
