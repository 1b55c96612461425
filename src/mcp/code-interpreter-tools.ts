/** The five code-interpreter tools, with the seed's names and parameters. */
import { createToolCatalog, type ToolCatalog } from './tool-catalog.ts';
import { createContext } from './create-context.ts';
import { healthCheck } from './health-check.ts';
import { listContexts } from './list-contexts.ts';
import { runCode } from './run-code.ts';
import { stopContext } from './stop-context.ts';

export const TOOLS = [healthCheck, createContext, runCode, listContexts, stopContext] as const;

/** Builds the catalog (JSON Schemas included); call once per process. */
export function createCodeInterpreterCatalog(): ToolCatalog {
  return createToolCatalog(TOOLS);
}
