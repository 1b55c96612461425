#!/usr/bin/env node
// Desktop clients (Claude Desktop, Cursor …): MCP over stdin/stdout, with its own sandbox service unless SANDBOX_URL is set.
import { runMain } from '../src/shared/cli.ts';
import { runLocal } from '../src/local-main.ts';

runMain(() => runLocal(process.env, process.argv.slice(2), { transport: 'stdio' }));
