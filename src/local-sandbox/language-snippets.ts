/**
 * The little pieces of code the server runs inside a kernel on the user's behalf
 * (silently, outside the history): setting and restoring per-execution environment
 * variables, and changing the working directory; and what the server must know of
 * each kernel's habits. One entry per language.
 */
import type { Language } from '../sandbox/protocol.ts';

export interface LanguageSnippets {
  /** Sets the variables and remembers their previous values. */
  setEnv(vars: Record<string, string>): string;
  /** Puts back what setEnv replaced. */
  restoreEnv(): string;
  /** Creates the directory if needed and makes it the working directory. */
  chdir(path: string): string;
  /** The kernel may publish output after its reply and `idle` (Deno): wait for a round trip before ending. */
  lateOutput: boolean;
}

const python: LanguageSnippets = {
  setEnv: (vars) =>
    `import os as _sandbox_os\n` +
    `_sandbox_env = ${JSON.stringify(vars)}\n` +
    `_sandbox_saved_env = {k: _sandbox_os.environ.get(k) for k in _sandbox_env}\n` +
    `_sandbox_os.environ.update(_sandbox_env)\n` +
    `del _sandbox_env`,
  restoreEnv: () =>
    `for _sandbox_k, _sandbox_v in _sandbox_saved_env.items():\n` +
    `    if _sandbox_v is None: _sandbox_os.environ.pop(_sandbox_k, None)\n` +
    `    else: _sandbox_os.environ[_sandbox_k] = _sandbox_v\n` +
    `del _sandbox_saved_env, _sandbox_os\n` +
    `_sandbox_k = _sandbox_v = None\n` +
    `del _sandbox_k, _sandbox_v`,
  lateOutput: false,
  chdir: (path) =>
    `import os as _sandbox_os\n_sandbox_os.makedirs(${JSON.stringify(path)}, exist_ok=True)\n_sandbox_os.chdir(${JSON.stringify(path)})\ndel _sandbox_os`,
};

const deno: LanguageSnippets = {
  setEnv: (vars) =>
    `globalThis.__sandboxSavedEnv = Object.fromEntries(Object.keys(${JSON.stringify(vars)}).map((k) => [k, Deno.env.get(k)]));\n` +
    `for (const [k, v] of Object.entries(${JSON.stringify(vars)})) Deno.env.set(k, v);`,
  restoreEnv: () =>
    `for (const [k, v] of Object.entries(globalThis.__sandboxSavedEnv ?? {})) { if (v === undefined) Deno.env.delete(k); else Deno.env.set(k, v); }\n` +
    `delete globalThis.__sandboxSavedEnv;`,
  lateOutput: true,
  chdir: (path) => `Deno.mkdirSync(${JSON.stringify(path)}, { recursive: true }); Deno.chdir(${JSON.stringify(path)});`,
};

export const SNIPPETS: Record<Language, LanguageSnippets> = { python, javascript: deno, typescript: deno };
