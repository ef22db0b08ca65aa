import { main } from './index.ts';
import { endProcess, ignoreClosedStdout } from './process-end.ts';

// The process entry point: the bin in development, the bundle (dist/fleet-backup.js) in production.
// Never process.exit() here: with stdout on a pipe, output still in flight would be cut (process-end.ts).
ignoreClosedStdout();
endProcess(await main(process.argv.slice(2)));
