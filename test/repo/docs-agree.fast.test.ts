/**
 * Where the docs list what the code defines, the two lists are the same: the tools'
 * failure kinds (docs/mcp-protocol.md, TOOL_FAILURE_KINDS) and the sandbox's refusal codes
 * (docs/sandbox.md, REFUSAL_CODES).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { TOOL_FAILURE_KINDS } from '../../src/mcp-server/refusal.ts';
import { REFUSAL_CODES } from '../../src/protocol/sandbox-api.ts';

test('docs/mcp-protocol.md lists every failure kind, in the code order, and no other', () => {
  const doc = readFileSync(new URL('../../docs/mcp-protocol.md', import.meta.url), 'utf8');
  const sentence = doc.match(/`kind` is one of ([\s\S]*?)\(`TOOL_FAILURE_KINDS`\)/)?.[1];
  assert.ok(sentence, 'the sentence that lists the kinds');
  const listed = [...sentence.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]).filter((word) => !['operation', 'status', 'code'].includes(word!));
  assert.deepEqual(listed, [...TOOL_FAILURE_KINDS]);
});

test('docs/sandbox.md lists every refusal code with its status, in the code order, and no other', () => {
  const doc = readFileSync(new URL('../../docs/sandbox.md', import.meta.url), 'utf8');
  const section = doc.split('## Refusals')[1]?.split('\n## ')[0];
  assert.ok(section, 'the Refusals section');
  const listed = [...section.matchAll(/^\| `([a-z_]+)` \| (\d+) \|$/gm)].map((m) => [m[1], Number(m[2])]);
  assert.deepEqual(listed, Object.entries(REFUSAL_CODES));
});
