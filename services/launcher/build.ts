// The production build: one ESM bundle of our TypeScript (services and libs) with third-party
// packages left external, so a deployed process runs plain JavaScript. Type stripping at run
// time costs ~20 MiB of RSS in every process; `npm start`, the CLI via npx and the tests still run
// the sources directly. Run with `npm run build`; the Dockerfile does.
import { rm } from 'node:fs/promises';
import { build, type Plugin } from 'esbuild';

const outdir = new URL('./dist/', import.meta.url).pathname;

/** Bundles our own packages; leaves every other bare import to node_modules at run time. */
const externalThirdParty: Plugin = {
  name: 'external-third-party',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@fleet-backup/') ? undefined : { path: args.path, external: true },
    );
  },
};

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { 'fleet-backup': new URL('./src/main.ts', import.meta.url).pathname },
  outdir,
  bundle: true,
  splitting: true, // keeps the lazy role imports lazy
  format: 'esm',
  platform: 'node',
  target: 'node22',
  sourcemap: true,
  plugins: [externalThirdParty],
  logLevel: 'warning',
});
console.log(`built ${outdir}fleet-backup.js`);
