import { enableCompileCache } from './compile-cache.ts';

// The process entry point: the bin in development, the bundle (dist/fleet-backup.js) in production.
// The compile cache is on before the CLI's modules load, so they are imported here, not at the top.
// Never process.exit() here: with stdout on a pipe, output still in flight would be cut (process-end.ts).
enableCompileCache();
const { main } = await import('@fleet-backup/cli');
const { registerServeCommands } = await import('./serve.ts');
const { endProcess, ignoreClosedStdout } = await import('./process-end.ts');
ignoreClosedStdout();
endProcess(await main(process.argv.slice(2), [registerServeCommands]));
