import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const BIN = new URL('../bin/fleet-backup.js', import.meta.url).pathname;

describe('compile cache', () => {
  let home: string | undefined;
  afterEach(async () => {
    if (home) await rm(home, { recursive: true, force: true });
  });

  const run = async (env: Record<string, string>) => {
    home = await mkdtemp(path.join(tmpdir(), 'fbt-compile-cache-'));
    const { NODE_COMPILE_CACHE: _, ...rest } = process.env;
    await promisify(execFile)(process.execPath, [BIN, '--help'], {
      env: { ...rest, XDG_CACHE_HOME: home, ...env },
    });
    return readdir(home, { recursive: true }).catch(() => []);
  };

  it("caches the CLI's compiled modules in the user's cache directory, not under /tmp", async () => {
    const files = await run({});
    const cached = files.filter((f) => f.startsWith(path.join('fleet-backup', 'node-compile-cache', 'v')));
    // One entry a compiled module: the CLI's own and its dependencies'.
    expect(cached.length).toBeGreaterThan(50);
  });

  it('caches nothing with FLEET_BACKUP_COMPILE_CACHE=off', async () => {
    expect(await run({ FLEET_BACKUP_COMPILE_CACHE: 'off' })).toEqual([]);
  });
});
