// The benchmark's data sets: incompressible bytes (AES-CTR over zeros, seeded), so no peer can
// win by compressing or deduplicating what a real host would not repeat.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { seededRandom } from '@fleet-backup/storage/testing/faulty';

const MIB = 1024 * 1024;

/** A deterministic stream of pseudo-random bytes, one per seed. */
export function byteSource(seed: string): (n: number) => Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (n) => cipher.update(Buffer.alloc(n));
}

/** One file of `bytes` random bytes, written a MiB at a time. */
export async function writeRandomFile(file: string, bytes: number, seed = 'bench-large'): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const next = byteSource(seed);
  const out = await open(file, 'w');
  try {
    for (let written = 0; written < bytes; ) {
      const n = Math.min(MIB, bytes - written);
      await out.write(next(n));
      written += n;
    }
  } finally {
    await out.close();
  }
}

export interface SmallTree {
  root: string;
  /** Relative paths, in creation order. */
  files: string[];
  bytes: number;
}

/** `count` files of 1–8 KiB spread over `count / 100` directories (at least one). */
export async function writeSmallTree(root: string, count: number, seed = 'bench-small'): Promise<SmallTree> {
  const random = seededRandom(hashSeed(seed));
  const next = byteSource(seed);
  const dirs = Math.max(1, Math.round(count / 100));
  const files = Array.from({ length: count }, (_, i) =>
    path.join(`d${String(i % dirs).padStart(3, '0')}`, `f${i}.dat`),
  );
  for (let d = 0; d < dirs; d++)
    await mkdir(path.join(root, `d${String(d).padStart(3, '0')}`), { recursive: true });
  const sizes = files.map(() => smallSize(random));
  let bytes = 0;
  // A few writes in flight: generating 20,000 files one at a time costs seconds of set-up alone.
  for (let i = 0; i < files.length; i += 64) {
    const batch = files.slice(i, i + 64);
    await Promise.all(
      batch.map((f, j) => {
        const size = sizes[i + j]!;
        bytes += size;
        return writeFile(path.join(root, f), next(size));
      }),
    );
  }
  return { root, files, bytes };
}

/** Rewrites `fraction` of the tree's files with new bytes (a new size too); returns how many. */
export async function changeFiles(tree: SmallTree, fraction: number, day: number): Promise<number> {
  const random = seededRandom(hashSeed(`change-${day}`));
  const next = byteSource(`change-${day}`);
  const count = Math.max(1, Math.round(tree.files.length * fraction));
  const picked = new Set<string>();
  while (picked.size < count) picked.add(tree.files[Math.floor(random() * tree.files.length)]!);
  for (const f of picked) await writeFile(path.join(tree.root, f), next(smallSize(random)));
  return picked.size;
}

function smallSize(random: () => number): number {
  return 1024 + Math.floor(random() * 7 * 1024);
}

function hashSeed(seed: string): number {
  return createHash('sha256').update(seed).digest().readUInt32BE(0);
}
