import { main } from './index.ts';

// The process entry point: the bin in development, the bundle (dist/fleet-backup.js) in production.
process.exit(await main(process.argv.slice(2)));
