/**
 * The MCP program's one refusal (Refusal, below) and the kinds it comes in: the stable names a
 * program branches on in a failed tool call's `structuredContent.error.kind`
 * (tools/tool-failure.ts), listed in docs/mcp-protocol.md. Below the tools (the sandbox client,
 * the sessions, the public fetch), so that each throws its refusal without importing a tool.
 */
import { z } from 'zod';

export const TOOL_FAILURE_KINDS = [
  'invalid_arguments',
  'unknown_context',
  'unknown_run',
  'unknown_result',
  'sandbox_not_found',
  'sandbox_unreachable',
  'sandbox_timeout',
  'sandbox_http',
  'sandbox_protocol',
  'sandbox_file_not_found',
  'sandbox_no_file_api',
  'invalid_path',
  'file_too_large',
  'fetch_failed',
  'install_failed',
  'too_many_contexts',
  'too_many_runs',
  'network_refused',
  'cancelled',
  'session_api',
  'internal',
] as const;

export type ToolFailureKind = (typeof TOOL_FAILURE_KINDS)[number];

/** What a refusal tells beside its message; each one given reaches the tool failure's structuredContent (its schema's fields). */
export const RefusalDetails = z.object({
  status: z.number().int().optional().describe('The HTTP status the sandbox or the FC Session API answered'),
  code: z.string().optional().describe('The FC Session API error code'),
  operation: z.string().optional().describe('The FC Session API operation that failed'),
});
export type RefusalDetails = z.infer<typeof RefusalDetails>;

/**
 * The MCP program's one refusal, as Hono has one HTTPException and the MCP SDK one error with a
 * code: whatever in the user's domain stops a tool (the sandbox refused or is unreachable, the FC
 * Session API failed, the caller is at its cap, a URL cannot be fetched) is thrown as a Refusal
 * with its kind, a message an agent can act on and what the other side answered. A tool turns it
 * into its failed result (tools/tool-failure.ts failureOf); anything else thrown is a bug.
 * Subclasses carry what their callers need besides (TenantCapReached's count, PublicFetchError's
 * reason).
 */
export class Refusal extends Error {
  override name = 'Refusal';
  /** The details given, in their order, those left undefined dropped. */
  readonly details: RefusalDetails;

  constructor(
    readonly kind: ToolFailureKind,
    message: string,
    details: RefusalDetails = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.details = Object.fromEntries(Object.entries(details).filter(([, value]) => value !== undefined));
  }

  /** The HTTP status the other side answered; undefined when no answer came. */
  get status(): number | undefined {
    return this.details.status;
  }
}
