/**
 * A CommonJS module's `module.exports`, however it was imported: Node's ESM loader
 * gives named exports plus `default` = module.exports; esbuild's split chunks (the FC
 * bundle) give only `default`; tsx unwraps `default` to `exports.default` and keeps named exports.
 */
export function commonJsExports<T>(namespace: unknown): T {
  const inner = (namespace as { default?: unknown }).default;
  return (typeof inner === 'object' && inner !== null ? inner : namespace) as T;
}
