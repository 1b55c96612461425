/** How entry points fail: a bad configuration is one line and exit code 2; anything else exit code 1. */

/** A configuration problem: handlers print `message` as one line and exit with code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
