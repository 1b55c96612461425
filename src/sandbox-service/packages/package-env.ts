/**
 * Where a session's packages live and the environment that sends every installer there: the
 * session's workspace (so they survive a kernel restart, count against its disk quota, and the
 * image stays untouched), never the system. Debian's Python marks itself externally managed;
 * a user-site install (`pip install --user` with PYTHONUSERBASE in the workspace) is per session,
 * sees the system's packages (a dependency Debian ships is not downloaded again) and is on a
 * kernel's sys.path from its start once it exists (site.py adds the user site). Measured here in
 * the jail: `--user` installs and imports; a venv would cost a `python3 -m venv` per session and
 * a kernel started from it. Every kernel gets this environment, so `%pip install x` and
 * `!pip install x` land in the same place from the same index as install_packages.
 */
import { WORKSPACE_DIR } from '../../protocol/sandbox-api.ts';

/** Hidden in the workspace: the user's files stay the user's. */
export const PACKAGES_DIR = `${WORKSPACE_DIR}/.packages`;
/** PYTHONUSERBASE: pip's --user installs go to <this>/lib/python3.X/site-packages, scripts to <this>/bin. */
export const PYTHON_USER_BASE = `${PACKAGES_DIR}/python`;
/** DENO_DIR of JavaScript/TypeScript kernels and of npm installs: npm packages cached there import as `npm:name`. */
export const DENO_PACKAGES_DIR = `${PACKAGES_DIR}/deno`;
/** pip's cache, in the workspace: under its disk quota, not in the kernel's memory-backed /tmp. */
export const PIP_CACHE_DIR = `${WORKSPACE_DIR}/.cache/pip`;

export interface PackageIndexes {
  /** SANDBOX_PIP_INDEX_URL */
  pipIndexUrl: string;
  /** SANDBOX_NPM_REGISTRY */
  npmRegistry: string;
}

/** Added to every kernel's (and installer's) environment. */
export function packageEnv(indexes: PackageIndexes): Record<string, string> {
  return {
    PATH: `${PYTHON_USER_BASE}/bin:/usr/local/bin:/usr/bin:/bin`,
    PYTHONUSERBASE: PYTHON_USER_BASE,
    // No PIP_USER: it would be `--user` for every pip command (`pip list` would show only these).
    // pip installs to the user site by itself where the system's is not writable (the jail's /usr
    // never is); install_packages says --user. Debian's EXTERNALLY-MANAGED guards the system's
    // site-packages, which a user-site install into the workspace never touches.
    PIP_BREAK_SYSTEM_PACKAGES: '1',
    PIP_INDEX_URL: indexes.pipIndexUrl,
    PIP_CACHE_DIR,
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    PIP_NO_INPUT: '1',
    PIP_PROGRESS_BAR: 'off',
    PIP_NO_WARN_SCRIPT_LOCATION: '1',
    NPM_CONFIG_REGISTRY: indexes.npmRegistry,
    DENO_DIR: DENO_PACKAGES_DIR,
    DENO_NO_UPDATE_CHECK: '1',
    DENO_NO_PROMPT: '1',
    // pip ignores a plain-http index unless its host is trusted: the operator named it so.
    ...(new URL(indexes.pipIndexUrl).protocol === 'http:' ? { PIP_TRUSTED_HOST: new URL(indexes.pipIndexUrl).host } : {}),
  };
}

/** The hosts an install from these indexes reaches: the index's, and PyPI's file host for PyPI. */
export function indexHosts(url: string): string[] {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'pypi.org' ? [host, 'files.pythonhosted.org'] : [host];
}
