// `npm start`: the MCP server on 127.0.0.1:3000 (MCP_HOST, MCP_PORT) with its own sandbox service unless SANDBOX_URL is set.
import { runMain } from '../src/shared/cli.ts';
import { runLocal } from '../src/local-main.ts';

runMain(() => runLocal(process.env, process.argv.slice(2)));
