/**
 * The pip install a request becomes, as a shell script run in the session's jail: pip's own log
 * goes to stderr (the output an agent reads), its JSON report (`--report`, pip ≥ 22.2) to stdout,
 * from which the installed names and versions are read. The specs were checked by the protocol
 * (packageSpecRefusal: names and versions only) and are quoted besides.
 */
import type { InstalledPackage } from '../../protocol/sandbox-api.ts';

const REPORT = '/tmp/.pip-install-report.json';

export function pipInstallScript(packages: string[]): string {
  const specs = packages.map(shellQuoted).join(' ');
  return [
    `/usr/bin/python3 -m pip install --user --report ${REPORT} -- ${specs} 1>&2`,
    'code=$?',
    `[ -f ${REPORT} ] && cat ${REPORT}`,
    'exit $code',
  ].join('\n');
}

/** The packages pip's report says it installed (none when its report is missing or not JSON). */
export function installedFromReport(stdout: string): InstalledPackage[] {
  try {
    const report = JSON.parse(stdout) as { install?: { metadata?: { name?: unknown; version?: unknown } }[] };
    return (report.install ?? []).flatMap(({ metadata }) =>
      typeof metadata?.name === 'string' && typeof metadata.version === 'string'
        ? [{ name: metadata.name, version: metadata.version }]
        : [],
    );
  } catch {
    return [];
  }
}

export function shellQuoted(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
