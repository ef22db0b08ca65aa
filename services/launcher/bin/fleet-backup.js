#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 --optimize-for-size
// The flags keep a long-running agent's RSS small while it streams gigabytes: a 1 MiB young
// generation and V8's memory-saving mode, and two malloc arenas instead of glibc's eight per core,
// each keeping what the threads that used it freed (npm run bench:offsite measures the effect; the
// Dockerfile uses the same). fleet-backup runs TypeScript directly through Node's type stripping (Node >= 22.18);
// deployments run the bundle instead: `npm run build`, then `node services/launcher/dist/fleet-backup.js`.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `fleet-backup needs Node.js 22.18 or later (found ${process.version}); run it through npm/npx in the repo, which brings Node 24.\n`,
  );
  process.exit(2);
}
await import('../src/main.ts');
