/**
 * The sandbox service's one refusal: Hono's HTTPException carrying the protocol's stable
 * code (REFUSAL_CODES), which fixes its status. It is answered as E2B's clients expect (the
 * message as plain text, with the status) and with the code in REFUSAL_CODE_HEADER, so that
 * a client tells refusals apart without reading their words.
 */
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { REFUSAL_CODE_HEADER, REFUSAL_CODES, type RefusalCode, refusalCodeForStatus } from '../protocol/sandbox-api.ts';

export class Refusal extends HTTPException {
  constructor(
    readonly code: RefusalCode,
    message: string,
  ) {
    super(REFUSAL_CODES[code] as ContentfulStatusCode, { message });
    this.name = 'Refusal';
  }

  override getResponse(): Response {
    return new Response(this.message, {
      status: this.status,
      headers: { 'Content-Type': 'text/plain; charset=UTF-8', [REFUSAL_CODE_HEADER]: this.code },
    });
  }
}

/**
 * What any error thrown while serving a request is answered with: a Refusal as it is, Hono's
 * own HTTPException (a middleware's: the API token's 401, with its headers) with the code of
 * its status, anything else a 500 that says what failed.
 */
export function refusalResponse(error: Error): Response {
  if (error instanceof Refusal) return error.getResponse();
  if (error instanceof HTTPException) {
    const own = error.getResponse();
    const response = new Response(own.body, own);
    response.headers.set(REFUSAL_CODE_HEADER, refusalCodeForStatus(own.status));
    return response;
  }
  console.error('sandbox: unexpected error', error);
  return new Refusal('internal', `internal error: ${error.message}`).getResponse();
}
