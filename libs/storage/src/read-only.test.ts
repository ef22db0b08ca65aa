import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsTarget } from './fs-target.ts';
import { readOnly } from './target.ts';

describe('readOnly: the view of a target that verify, drills and restores get', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fb-read-only-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads, lists and heads through to the target, and has no put or delete to call', async () => {
    const target = new FsTarget({ name: 'disk', root: dir });
    const bytes = Buffer.from('hello\n');
    const sha256 = '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03';
    await target.put('a/b', () => Readable.from([bytes]), { sha256, size: bytes.length });
    const view = readOnly(target);
    expect(view.name).toBe('disk');
    expect((await view.head('a/b')).size).toBe(bytes.length);
    expect((await view.list('a/')).objects.map((o) => o.key)).toEqual(['a/b']);
    const chunks: Buffer[] = [];
    for await (const c of await view.get('a/b')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    // Not merely hidden from the type: absent from the object, so no cast can reach them.
    expect('put' in view).toBe(false);
    expect('delete' in view).toBe(false);
  });
});
