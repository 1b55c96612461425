/**
 * The little pieces of code the server runs inside a kernel on the user's behalf
 * (silently, outside the history): setting and restoring per-execution environment
 * variables, and changing the working directory; and what the server must know of
 * each kernel's habits. One entry per language.
 */
import { readFileSync } from 'node:fs';
import type { Language } from '../../protocol/sandbox-api.ts';
import { R_PRELUDE } from './r-prelude.ts';

export interface LanguageSnippets {
  /** Sets the variables and remembers their previous values. */
  setEnv(vars: Record<string, string>): string;
  /** Puts back what setEnv replaced. */
  restoreEnv(): string;
  /** Creates the directory if needed and makes it the working directory. */
  chdir(path: string): string;
  /** Makes packages installed into the workspace since the kernel started importable (install_packages). */
  activatePackages?: string;
  /** Run silently once in every kernel as it starts (in the pool, before any context takes it). */
  prelude?: string;
  /**
   * For a kernel that fails an execution without saying why (Deno on a syntax error): code
   * that, run silently after the failure, raises the error the code deserved.
   */
  explainFailure?(code: string): string;
  /** The kernel may publish output after its reply and `idle` (Deno): wait for a round trip before ending. */
  lateOutput: boolean;
}

/** Set up in every Python kernel: DataFrame data, matplotlib charts, PIL display-on-save (see the file). */
const PYTHON_PRELUDE = readFileSync(new URL('./python-prelude.py', import.meta.url), 'utf8');

const python: LanguageSnippets = {
  prelude: PYTHON_PRELUDE,
  // Defined by the prelude (python-prelude.py): the user site on sys.path, import caches refreshed.
  activatePackages: 'import _sandbox_packages\n_sandbox_packages.activate()',
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

/**
 * Deno's kernel sends only console output to iopub; bytes written to Deno.stdout/stderr go to
 * the process's own streams, where nobody sees them. Route them to iopub as stream messages.
 */
const DENO_PRELUDE = `if (!globalThis.__sandboxStreams) {
  globalThis.__sandboxStreams = true;
  for (const [name, stream] of [['stdout', Deno.stdout], ['stderr', Deno.stderr]]) {
    const decoder = new TextDecoder();
    const send = (bytes) => Deno.jupyter.broadcast('stream', { name, text: decoder.decode(bytes, { stream: true }) });
    stream.writeSync = (bytes) => { send(bytes); return bytes.byteLength; };
    stream.write = async (bytes) => { await send(bytes); return bytes.byteLength; };
  }
}`;

/**
 * Deno's kernel answers a syntax error with a bare "Execution failed". Its own parser
 * (`deno fmt`, run inside the jail by the kernel) names the error and its position; this
 * throws it as a SyntaxError, or does nothing when the code parses (it failed otherwise).
 */
function denoSyntaxCheck(code: string): string {
  const pattern = String.raw`error: (?:\w+: )?([^\n]*)\n([\s\S]*?)\n\s*at [^\n]*?:(\d+):(\d+)`;
  return [
    '{',
    "  const child = new Deno.Command(Deno.execPath(), { args: ['fmt', '--ext=ts', '-'], stdin: 'piped', stdout: 'null', stderr: 'piped', env: { NO_COLOR: '1' } }).spawn();",
    '  const writer = child.stdin.getWriter();',
    `  await writer.write(new TextEncoder().encode(${JSON.stringify(code)}));`,
    '  await writer.close();',
    '  const report = new TextDecoder().decode((await child.output()).stderr);',
    `  const found = new RegExp(${JSON.stringify(pattern)}).exec(report);`,
    '  if (found) {',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript the kernel runs
    '    const error = new SyntaxError(`${found[1]} (line ${found[3]}, column ${found[4]})`);',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript the kernel runs
    '    const lines = [`SyntaxError: ${error.message}`, ...found[2].split(String.fromCharCode(10)).filter((line) => line.trim())];',
    '    error.stack = lines.join(String.fromCharCode(10));',
    '    throw error;',
    '  }',
    '}',
  ].join('\n');
}

const deno: LanguageSnippets = {
  setEnv: (vars) =>
    `globalThis.__sandboxSavedEnv = Object.fromEntries(Object.keys(${JSON.stringify(vars)}).map((k) => [k, Deno.env.get(k)]));\n` +
    `for (const [k, v] of Object.entries(${JSON.stringify(vars)})) Deno.env.set(k, v);`,
  restoreEnv: () =>
    `for (const [k, v] of Object.entries(globalThis.__sandboxSavedEnv ?? {})) { if (v === undefined) Deno.env.delete(k); else Deno.env.set(k, v); }\n` +
    `delete globalThis.__sandboxSavedEnv;`,
  lateOutput: true,
  prelude: DENO_PRELUDE,
  chdir: (path) => `Deno.mkdirSync(${JSON.stringify(path)}, { recursive: true }); Deno.chdir(${JSON.stringify(path)});`,
  explainFailure: (code) => denoSyntaxCheck(code),
};

/** A word for bash, single-quoted: nothing in it is expanded. */
const shellWord = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
/** Names that can be variables in bash and R alike; others cannot be set from code anyway. */
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const variables = (vars: Record<string, string>) => Object.entries(vars).filter(([name]) => VARIABLE.test(name));

const bash: LanguageSnippets = {
  setEnv: (vars) =>
    variables(vars)
      .map(
        ([name, value]) =>
          `if [ -n "\${${name}+set}" ]; then __sandbox_saved_${name}="$${name}"; __sandbox_had_${name}=1; else __sandbox_had_${name}=0; fi; export ${name}=${shellWord(value)}`,
      )
      .join('\n'),
  restoreEnv: () =>
    `for __sandbox_v in $(compgen -v __sandbox_had_); do __sandbox_n=\${__sandbox_v#__sandbox_had_}; ` +
    `if [ "\${!__sandbox_v}" = 1 ]; then __sandbox_s=__sandbox_saved_$__sandbox_n; export "$__sandbox_n=\${!__sandbox_s}"; else unset "$__sandbox_n"; fi; ` +
    `unset "__sandbox_saved_$__sandbox_n" "$__sandbox_v"; done; unset __sandbox_v __sandbox_n __sandbox_s`,
  lateOutput: false,
  chdir: (path) => `mkdir -p ${shellWord(path)} && cd ${shellWord(path)}`,
};

const r: LanguageSnippets = {
  prelude: R_PRELUDE,
  setEnv: (vars) =>
    `.sandbox_env <- ${rList(vars)}\n.sandbox_saved_env <- Sys.getenv(names(.sandbox_env), unset = NA, names = TRUE)\n` +
    `do.call(Sys.setenv, as.list(.sandbox_env))\nrm(.sandbox_env)`,
  restoreEnv: () =>
    `for (.sandbox_k in names(.sandbox_saved_env)) { .sandbox_v <- .sandbox_saved_env[[.sandbox_k]]; ` +
    `if (is.na(.sandbox_v)) Sys.unsetenv(.sandbox_k) else do.call(Sys.setenv, setNames(list(.sandbox_v), .sandbox_k)) }\n` +
    `rm(list = intersect(c(".sandbox_saved_env", ".sandbox_k", ".sandbox_v"), ls(all.names = TRUE)))`,
  lateOutput: false,
  chdir: (path) => `dir.create(${JSON.stringify(path)}, recursive = TRUE, showWarnings = FALSE); setwd(${JSON.stringify(path)})`,
};

/** A named character vector in R; JSON's string escapes are R's too. */
function rList(vars: Record<string, string>): string {
  const entries = Object.entries(vars).map(([name, value]) => `${JSON.stringify(name)} = ${JSON.stringify(value)}`);
  return `c(${entries.join(', ')})`;
}

export const SNIPPETS: Record<Language, LanguageSnippets> = { python, javascript: deno, typescript: deno, bash, r };
