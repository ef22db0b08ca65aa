import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './support/cli.ts';

/**
 * Dependencies point one way: services → libs, and inside libs a fixed order. Storage never
 * imports the queue or the database (it imports no other package of ours at all).
 */
const ALLOWED: Record<string, string[]> = {
  core: [],
  storage: [],
  emulators: [],
  // Other services embed it: it carries no package of ours, only the API's shapes.
  client: [],
  config: ['core'],
  capture: ['core', 'config'],
  db: ['core'],
  queue: ['core'],
  runtime: ['core', 'config', 'db', 'queue', 'storage'],
  testkit: ['db', 'queue'],
  worker: ['core', 'config', 'capture', 'db', 'queue', 'runtime', 'storage'],
  producer: ['core', 'config', 'db', 'queue', 'runtime'],
  cli: ['core', 'config', 'capture', 'db', 'queue', 'runtime', 'storage'],
  // The `fleet-backup` command: the CLI's commands, and the roles it starts.
  launcher: ['core', 'config', 'db', 'runtime', 'storage', 'emulators', 'cli', 'producer', 'worker'],
};

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter(
      (e) =>
        e.isFile() &&
        e.name.endsWith('.ts') &&
        !e.name.endsWith('.test.ts') &&
        !e.parentPath.includes('testing'),
    )
    .map((e) => path.join(e.parentPath, e.name));
}

describe('architecture', () => {
  for (const [pkg, allowed] of Object.entries(ALLOWED)) {
    it(`${pkg} imports only ${allowed.join(', ') || 'no other package of ours'}`, async () => {
      const base = ['worker', 'producer', 'cli', 'launcher'].includes(pkg) ? 'services' : 'libs';
      const dir = path.join(repoRoot, base, pkg, 'src');
      const used = new Set<string>();
      for (const file of await sourceFiles(dir).catch(() => [])) {
        for (const m of (await readFile(file, 'utf8')).matchAll(
          /(?:from |import\()'@fleet-backup\/([a-z-]+)/g,
        ))
          used.add(m[1]!);
      }
      expect([...used].filter((u) => u !== pkg && !allowed.includes(u))).toEqual([]);
    });
  }
});
