import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SQLITE_HEADER } from '@fleet-backup/core';

/** The test tree: nested folders, an empty file, a large file, unicode and spaces, a .db and configs. */
export async function makeTree(root: string, opts: { largeBytes: number }): Promise<void> {
  await mkdir(path.join(root, 'nested', 'deeper', 'deepest'), { recursive: true });
  await mkdir(path.join(root, 'with space', 'ünïcødé ✓'), { recursive: true });
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await writeFile(path.join(root, 'empty.txt'), '');
  await writeFile(path.join(root, 'nested', 'deeper', 'deepest', 'leaf.json'), '{"leaf":true}\n');
  await writeFile(path.join(root, 'with space', 'ünïcødé ✓', 'nötes und space.txt'), 'grüße 🌍\n');
  await writeFile(path.join(root, 'etc', 'app.yaml'), 'port: 8080\n');
  await writeFile(path.join(root, 'etc', 'app.ini'), '[main]\nx=1\n');
  await writeFile(path.join(root, 'app.db'), Buffer.concat([SQLITE_HEADER, Buffer.alloc(4096 - 16, 1)]));
  await writeLarge(path.join(root, 'large.bin'), opts.largeBytes);
}

/** Writes deterministic pseudo-random bytes without holding the file in memory. */
export async function writeLarge(file: string, bytes: number, seed = 'fleet-backup'): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const out = await open(file, 'w');
  try {
    // One pseudo-random MiB, stamped with its index so no two MiB of the file are equal.
    let block = createHash('sha512').update(seed).digest();
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < chunk.length; i += 64) {
      block = createHash('sha512').update(block).digest();
      block.copy(chunk, i);
    }
    for (let written = 0, index = 0; written < bytes; index++) {
      chunk.writeBigUInt64BE(BigInt(index), 0);
      const n = Math.min(chunk.length, bytes - written);
      await out.write(chunk, 0, n);
      written += n;
    }
  } finally {
    await out.close();
  }
}

/** Every regular file under root, as paths relative to root. */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

/** sha256 of a file, computed here independently of the code under test. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
