/**
 * A sandbox API path as a span names it: ids (a context's, a run's) become `{id}`, so both
 * programs name the same route the same way and span names stay few.
 */
export function urlTemplate(pathname: string): string {
  const segments = pathname.split('/');
  for (let i = 1; i < segments.length; i++) {
    const before = segments[i - 1];
    if ((before === 'contexts' || before === 'runs') && segments[i] !== 'interrupt' && segments[i] !== '') segments[i] = '{id}';
  }
  return segments.join('/') || '/';
}
