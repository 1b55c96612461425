// Stands in for @modelcontextprotocol/server/_shims in the FC bundle. The SDK's Node shim
// exports an Ajv-backed DefaultJsonSchemaValidator that it constructs only when a Server
// is given no jsonSchemaValidator; ours always gets one (src/mcp-server/server/server.ts), and nothing
// here validates elicitation results. Without this, Ajv is parsed at every cold start.
import process from 'node:process';

export class DefaultJsonSchemaValidator {
  getValidator() {
    throw new Error('JSON Schema validation is not bundled into dist/fc.js; pass a jsonSchemaValidator');
  }
}
export { process };
