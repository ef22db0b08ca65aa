import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError } from './errors.ts';
import { FsTarget } from './fs-target.ts';
import { createTarget, knownTargetSchemes, redactUrl, registerTargetScheme } from './registry.ts';

describe('registry', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'fleet-backup-registry-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('builds an onsite FsTarget from a file URL', () => {
    const target = createTarget({ name: 'second', url: pathToFileURL(root).href });
    expect(target).toBeInstanceOf(FsTarget);
    expect(target.kind).toBe('fs');
    expect(target.offsite).toBe(false);
    expect(target.location).toBe(pathToFileURL(root).href);
    expect(createTarget({ name: 'nas', url: 'file:///mnt/nas', offsite: true }).offsite).toBe(true);
  });

  it('names the URL and the known schemes for an unknown scheme', () => {
    const call = () => createTarget({ name: 'cloud', url: 'ftp://user:secret@example.com/backups' });
    expect(call).toThrow(PermanentError);
    expect(call).toThrow(
      /unknown URL scheme ftp:\/\/ in ftp:\/\/\*\*\*@example\.com\/backups \(known schemes: .*file:\/\//,
    );
    expect(call).not.toThrow(/secret/);
  });

  it('rejects invalid and reserved target names', () => {
    for (const name of ['', 'Local', 'a_b', '-a', 'a'.repeat(33), 'local']) {
      expect(() => createTarget({ name, url: 'file:///mnt/x' }), name).toThrow(PermanentError);
    }
    expect(() => createTarget({ name: 'local', url: 'file:///mnt/x' })).toThrow(/reserved/);
    expect(() => createTarget({ name: 'a'.repeat(32), url: 'file:///mnt/x' })).not.toThrow();
  });

  it('rejects unparsable URLs and file URLs with a remote host', () => {
    expect(() => createTarget({ name: 'x', url: 'not a url' })).toThrow(PermanentError);
    expect(() => createTarget({ name: 'x', url: 'file://otherhost/mnt' })).toThrow(PermanentError);
  });

  it('takes new schemes from registerTargetScheme', () => {
    registerTargetScheme(
      'mem:',
      (input) => new FsTarget({ name: input.name, root, offsite: input.offsite ?? true }),
    );
    expect(knownTargetSchemes()).toContain('mem');
    const target = createTarget({ name: 'm', url: 'mem://anything', options: { a: 1 } });
    expect(target.offsite).toBe(true);
  });

  it('redacts credentials in URLs', () => {
    expect(redactUrl('s3://AKIA:secret@bucket/prefix')).toBe('s3://***@bucket/prefix');
    expect(redactUrl('file:///mnt/second')).toBe('file:///mnt/second');
  });
});
