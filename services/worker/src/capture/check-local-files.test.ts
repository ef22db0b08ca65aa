import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buffersOut } from '../fs/buffer-pool.ts';
import { checkLocalFiles } from './check-local-files.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('checkLocalFiles: the hash stage re-reads every new stored copy', () => {
  let root: string;
  const key = '20260101';
  const backup = { key, request: { host: 'h', kind: 'daily' as const, paths: ['/srv'] } };
  const contents = new Map<string, Buffer>([
    ['srv/a.txt.bak', randomBytes(100)],
    ['srv/empty.bak', Buffer.alloc(0)],
    ['srv/big.bin.bak', randomBytes(300_000)],
  ]);
  const rows = () =>
    [...contents].map(([storedPath, bytes]) => ({
      path: storedPath.replace(/\.bak$/, ''),
      storedPath,
      sha256: sha(bytes),
      size: bytes.length,
      encrypted: null,
    }));
  const at = (storedPath: string) => path.join(root, key, storedPath);
  const rewrite = async (storedPath: string, bytes: Buffer) => {
    await chmod(at(storedPath), 0o644);
    await writeFile(at(storedPath), bytes);
  };

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fb-check-local-'));
    await mkdir(path.join(root, key, 'srv'), { recursive: true });
    for (const [storedPath, bytes] of contents) await writeFile(at(storedPath), bytes, { mode: 0o444 });
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const check = () => checkLocalFiles(root, backup, rows(), new AbortController().signal);

  it('reads every file and passes when each matches its row', async () => {
    expect(await check()).toBe(3);
    expect(buffersOut()).toEqual({ small: 0, large: 0, ahead: 0 });
  });

  it('fails for good on a small copy changed in place, keeping its size', async () => {
    await rewrite('srv/a.txt.bak', randomBytes(100));
    await expect(check()).rejects.toThrow(/srv\/a\.txt\.bak does not match its snapshot/);
  });

  it('fails on a small copy that grew past one read buffer, and on a large copy changed', async () => {
    await rewrite('srv/a.txt.bak', randomBytes(200_000));
    await expect(check()).rejects.toThrow(
      /a\.txt\.bak does not match its snapshot .* size 200000, expected .* size 100/,
    );
    await rewrite('srv/a.txt.bak', contents.get('srv/a.txt.bak') as Buffer);
    const big = Buffer.from(contents.get('srv/big.bin.bak') as Buffer);
    big[150_000] = (big[150_000] ?? 0) ^ 1;
    await rewrite('srv/big.bin.bak', big);
    await expect(check()).rejects.toThrow(/big\.bin\.bak does not match its snapshot/);
  });

  it('names a missing copy', async () => {
    await unlink(at('srv/empty.bak'));
    await expect(check()).rejects.toThrow(/empty\.bak is missing from the local copy/);
    expect(buffersOut()).toEqual({ small: 0, large: 0, ahead: 0 });
  });
});
