/**
 * Prompts: ready-made requests a user picks in their client (a slash command in many).
 * One for now, the task users bring most: analyse a data file. It only words the
 * request; the model then does the work with the tools, so it needs no sandbox call.
 * Clients such as Inspector 0.15 list prompts on connect and stop at -32601, so the
 * capability is declared with at least this one.
 */
import { type GetPromptResult, ProtocolError, ProtocolErrorCode, type Prompt, type Server } from '@modelcontextprotocol/server';
import { WORKSPACE_DIR } from '../../protocol/sandbox-api.ts';

const ANALYZE_FILE: Prompt = {
  name: 'analyze_file',
  title: 'Analyse a data file',
  description:
    'Loads a file (CSV, TSV, Excel, JSON, text …) into a Python context and analyses it: its shape, columns, a summary and charts, or the question you ask.',
  arguments: [
    {
      name: 'file',
      description: `The file: a path in a context's workspace (${WORKSPACE_DIR}), or a public http(s) URL to download`,
      required: true,
    },
    { name: 'question', description: 'What you want to know (default: an overview of the data)', required: false },
    { name: 'context_id', description: 'A context that already holds the file (default: a new Python context)', required: false },
  ],
};

export const PROMPTS: readonly Prompt[] = [ANALYZE_FILE];

function analyzeFile(args: Record<string, string>): GetPromptResult {
  const file = args.file?.trim();
  if (!file) throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'analyze_file needs the argument "file": a workspace path or a URL');
  const isUrl = /^https?:\/\//i.test(file);
  const context = args.context_id?.trim();
  const steps = [
    context
      ? `Use the context ${context} (run_code with context_id "${context}").`
      : 'Create a Python context with create_context and pass its context_id to every run_code.',
    isUrl
      ? `Download the file with write_file (url "${file}", and a path such as "data/${file.split(/[?#]/)[0]!.split('/').pop() || 'input'}").`
      : `The file is "${file}" in the context's workspace; check it is there with list_files if unsure.`,
    // Debian 12 packages no pyarrow, so the sandbox's pandas cannot read Parquet: the prompt says so rather than promise it.
    'Load it with pandas (read_csv, read_excel, read_json …, by its type; Parquet cannot be read here, as the sandbox has no pyarrow) and look at its shape, columns, types and a few rows before anything else.',
    args.question?.trim()
      ? `Then answer: ${args.question.trim()}`
      : 'Then give an overview: what the data holds, summary statistics, missing values, and anything notable.',
    'Show charts with matplotlib where they help (plt.show() returns them as images), and save any result tables as files so they can be read back with read_file.',
  ];
  return {
    description: `Analyse ${file}`,
    messages: [
      {
        role: 'user',
        content: { type: 'text', text: `Analyse the data file ${file}.\n\n${steps.map((s, i) => `${i + 1}. ${s}`).join('\n')}` },
      },
    ],
  };
}

export function addPrompts(server: Server): void {
  server.setRequestHandler('prompts/list', () => ({ prompts: [...PROMPTS] }));
  server.setRequestHandler('prompts/get', (request) => {
    const { name, arguments: args = {} } = request.params;
    if (name === ANALYZE_FILE.name) return analyzeFile(args);
    throw new ProtocolError(
      ProtocolErrorCode.InvalidParams,
      `unknown prompt "${name}"; prompts/list shows the prompts (${PROMPTS.map((p) => p.name).join(', ')})`,
    );
  });
}
