// What a target holds: every object under its prefix, whatever it is (blobs, packs, chunks,
// indexes, manifests), counted and sized from where each stand-in keeps it on disk, so the count
// does not depend on the storage code under test. Also restic's repositories, the peers' figure.
import { type Dirent, readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { StandinTarget } from '../compare/fleet-stack.ts';

/** s3rver keeps an object's bytes in `<dir>/<bucket>/<key>._S3rver_object`, its metadata beside it. */
const S3RVER_OBJECT = '._S3rver_object';

export interface Holdings {
  objects: number;
  bytes: number;
}

/** Objects and their bytes on one stand-in target, under its prefix. */
export async function holdings(t: StandinTarget): Promise<Holdings> {
  switch (t.kind) {
    case 'fs':
      return filesUnder(t.dir);
    case 's3':
      return filesUnder(path.join(t.dir, t.bucket, t.prefix), (name) => name.endsWith(S3RVER_OBJECT));
    case 'gcs':
      return gcsHoldings(t);
  }
}

/** The difference between two readings of the same target: what a run added (or removed). */
export function added(before: Holdings, after: Holdings): Holdings {
  return { objects: after.objects - before.objects, bytes: after.bytes - before.bytes };
}

/** Regular files under `dir` (all of them, or those `keep` accepts) and their sizes; none if absent. */
export async function filesUnder(
  dir: string,
  keep: (name: string) => boolean = () => true,
): Promise<Holdings> {
  const out: Holdings = { objects: 0, bytes: 0 };
  const pending = [dir];
  for (let d = pending.pop(); d !== undefined; d = pending.pop()) {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) pending.push(p);
      else if (e.isFile() && keep(e.name)) {
        out.objects++;
        out.bytes += (await stat(p)).size;
      }
    }
  }
  return out;
}

/** The GCS emulator keeps `<sha256(name)>.json` per object, holding its name and size. */
async function gcsHoldings(t: StandinTarget): Promise<Holdings> {
  const dir = path.join(t.dir, 'buckets', t.bucket, 'objects');
  const out: Holdings = { objects: 0, bytes: 0 };
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  const prefix = t.prefix ? `${t.prefix}/` : '';
  for (const n of names) {
    const o = JSON.parse(await readFile(path.join(dir, n), 'utf8')) as {
      name: string;
      size: number | string;
    };
    if (!o.name.startsWith(prefix)) continue;
    out.objects++;
    out.bytes += Number(o.size);
  }
  return out;
}
