/** The package's version: package.json is the one place it is written (bundles inline it). */
import manifest from '../../package.json' with { type: 'json' };

export const PACKAGE_VERSION: string = manifest.version;
