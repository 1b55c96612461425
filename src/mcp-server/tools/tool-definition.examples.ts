/**
 * The `@example` of tool-definition.ts's defineTool, where the type checker sees it: the
 * region is the example's text, and test/repo/examples.fast.test.ts holds the doc comment to
 * it word for word. Nothing imports this file; it is never run.
 */
import { z } from 'zod';
import { defineTool, toolResult } from './tool-definition.ts';

export function defineToolExample() {
  // #region defineTool
  const echo = defineTool({
    name: 'echo',
    title: 'Echo',
    description: 'Answers with the text it was given.',
    inputSchema: z.object({ text: z.string() }),
    outputSchema: z.object({ text: z.string() }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handler({ text }) {
      return toolResult({ text }, text);
    },
  });
  // #endregion
  return echo;
}
