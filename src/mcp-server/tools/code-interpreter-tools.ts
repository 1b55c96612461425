/** The code-interpreter tools: the seed's five, with its names and parameters, the three file tools, and the two for long runs. */
import { createToolCatalog, type ToolCatalog } from './tool-catalog.ts';
import { createContext } from './create-context.ts';
import { healthCheck } from './health-check.ts';
import { listContexts } from './list-contexts.ts';
import { runCode } from './run-code.ts';
import { stopContext } from './stop-context.ts';
import { listFiles } from './list-files.ts';
import { readFile } from './read-file.ts';
import { writeFile } from './write-file.ts';
import { waitRun } from './wait-run.ts';
import { cancelRun } from './cancel-run.ts';

export const TOOLS = [
  healthCheck,
  createContext,
  runCode,
  listContexts,
  stopContext,
  writeFile,
  readFile,
  listFiles,
  waitRun,
  cancelRun,
] as const;

/** Builds the catalog (JSON Schemas included); call once per process. */
export function createCodeInterpreterCatalog(): ToolCatalog {
  return createToolCatalog(TOOLS);
}
