/**
 * What a user does first with a code interpreter, through any MCP client (the tests of what ships:
 * the npm package's bin, the server image): Python, JavaScript, a chart, a file, stop.
 */
import assert from 'node:assert/strict';

export interface ToolResult {
  isError?: boolean;
  content: { type: string; text?: string; mimeType?: string; name?: string; uri?: string }[];
  structuredContent?: Record<string, unknown>;
}
export type CallTool = (name: string, args: Record<string, unknown>) => Promise<ToolResult>;

const text = (r: ToolResult) => r.content.map((c) => c.text ?? `[${c.type}]`).join('\n');
async function ok(result: Promise<ToolResult>): Promise<Record<string, any>> {
  const r = await result;
  assert.notEqual(r.isError, true, text(r));
  return r.structuredContent ?? {};
}

/** Python, JavaScript, a chart, a file, stop: what a desktop user does first. */
export async function useEveryPart(callTool: CallTool) {
  const py = (await ok(callTool('create_context', { language: 'python' }))).context_id as string;
  await ok(callTool('run_code', { context_id: py, code: 'import pandas as pd\ndf = pd.DataFrame({"a": [1, 2, 3]})' }));
  assert.equal((await ok(callTool('run_code', { context_id: py, code: 'print(df["a"].sum())' }))).stdout, '6\n');

  const chart = await callTool('run_code', {
    context_id: py,
    code: 'import matplotlib.pyplot as plt\nplt.bar(["a", "b"], [2, 3])\nplt.title("counts")\nplt.show()',
  });
  assert.notEqual(chart.isError, true, text(chart));
  assert.equal(chart.content.filter((c) => c.type === 'image' && c.mimeType === 'image/png').length, 1, 'the chart as a PNG');
  assert.equal((chart.structuredContent as { results: { chart?: { type: string } }[] }).results[0]?.chart?.type, 'bar');

  await ok(callTool('write_file', { context_id: py, path: 'data/sales.csv', content: 'month,sales\n1,10\n2,30\n' }));
  const total = await ok(callTool('run_code', { context_id: py, code: 'print(pd.read_csv("data/sales.csv").sales.sum())' }));
  assert.equal(total.stdout, '40\n');
  const listed = await ok(callTool('list_files', { context_id: py, path: 'data' }));
  assert.deepEqual(
    (listed.files as { name: string }[]).map((f) => f.name),
    ['sales.csv'],
  );
  // What the code writes comes back linked: with the jail off too, as the sandbox image runs under podman.
  const wrote = await callTool('run_code', { context_id: py, code: 'open("data/out.csv", "w").write("a\\n1\\n")' });
  assert.notEqual(wrote.isError, true, text(wrote));
  const links = wrote.content.filter((c) => c.type === 'resource_link');
  assert.deepEqual(
    links.map((l) => l.name),
    ['out.csv'],
    text(wrote),
  );
  assert.match(links[0]!.uri ?? '', /\/files\/data\/out\.csv$/);

  const js = (await ok(callTool('create_context', { language: 'javascript' }))).context_id as string;
  const sum = await ok(
    callTool('run_code', { context_id: js, code: 'const xs = [1, 2, 3];\nconsole.log(xs.reduce((a, b) => a + b, 0));' }),
  );
  assert.equal(sum.stdout, '6\n');

  for (const id of [py, js]) assert.equal((await ok(callTool('stop_context', { context_id: id }))).success, true);
}
