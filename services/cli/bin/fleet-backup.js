#!/usr/bin/env node
// fleet-backup runs TypeScript directly through Node's type stripping, which needs Node >= 22.18.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `fleet-backup needs Node.js 22.18 or later (found ${process.version}); run it through npm/npx in the repo, which brings Node 24.\n`,
  );
  process.exit(2);
}
const { main } = await import('../src/index.ts');
process.exit(await main(process.argv.slice(2)));
