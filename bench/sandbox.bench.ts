/** `npm run bench` runs every bench/*.bench.ts; this one is the sandbox service against Jupyter Server. */
import { main } from './sandbox.ts';

await main();
