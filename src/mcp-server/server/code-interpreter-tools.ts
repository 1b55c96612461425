/**
 * The code-interpreter tools: the original server's five, with its names and parameters (so its
 * users' prompts and clients keep working), the three file tools, the two for long runs,
 * and result_page, which the results viewer calls (MCP Apps hosts keep it from the model: `_meta.ui.visibility`).
 */
import { createToolCatalog, type ToolCatalog } from '../tools/tool-catalog.ts';
import { createContext } from '../tools/create-context.ts';
import { healthCheck } from '../tools/health-check.ts';
import { listContexts } from '../tools/list-contexts.ts';
import { runCode } from '../run-tools/run-code.ts';
import { stopContext } from '../tools/stop-context.ts';
import { setNetwork } from '../tools/set-network.ts';
import { listFiles } from '../file-tools/list-files.ts';
import { readFile } from '../file-tools/read-file.ts';
import { writeFile } from '../file-tools/write-file.ts';
import { waitRun } from '../run-tools/wait-run.ts';
import { cancelRun } from '../run-tools/cancel-run.ts';
import { resultPage } from '../apps/result-page.ts';
import { installPackages } from '../tools/install-packages.ts';

export const TOOLS = [
  healthCheck,
  createContext,
  runCode,
  listContexts,
  stopContext,
  setNetwork,
  writeFile,
  readFile,
  listFiles,
  installPackages,
  waitRun,
  cancelRun,
  resultPage,
] as const;

/** Builds the catalog (JSON Schemas included); call once per process. */
export function createCodeInterpreterCatalog(): ToolCatalog {
  return createToolCatalog(TOOLS);
}
