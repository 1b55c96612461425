/**
 * What a token may look like: RFC 6750's b64token, so it can be sent in a header as
 * it is. One grammar for both programs' tokens: the MCP server's static bearer
 * tokens (MCP_AUTH_TOKEN) and the sandbox service's API token (SANDBOX_API_TOKEN).
 */

export const TOKEN_PATTERN = /^[A-Za-z0-9._~+/-]+=*$/;
export const TOKEN_RULE = 'letters, digits and . _ ~ + / - (then = padding)';
