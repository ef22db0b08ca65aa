import { describe, expect, it } from 'vitest';
import { type CopyState, compliance321 } from './compliance.ts';

const copy = (
  target: string,
  kind: string,
  offsite: boolean,
  status: CopyState['status'] = 'verified',
): CopyState => ({
  target,
  kind,
  offsite,
  status,
});

describe('compliance321', () => {
  it('counts the source plus verified copies, disk vs object storage, and offsite copies', () => {
    const c = compliance321([
      copy('local', 'local', false),
      copy('s3', 's3', true),
      copy('gcs', 'gcs', true),
    ]);
    expect(c).toMatchObject({ ok: true, copies: 4, kinds: 2, offsite: 2, missing: [] });
    expect(c.summary).toBe('3-2-1: yes (4 copies, 2 kinds, 2 offsite)');
  });

  it('says what is missing, naming copies that did not verify and why', () => {
    const c = compliance321([
      copy('local', 'local', false),
      copy('second', 'fs', false),
      copy('gcs', 'gcs', true, 'pending'),
    ]);
    expect(c.ok).toBe(false);
    expect(c.summary).toMatch(/^3-2-1: no \(3 copies, 1 kind, 0 offsite\)/);
    expect(c.missing).toContain('needs 2 kinds of storage, has 1 (disk)');
    expect(c.missing).toContain('needs 1 verified offsite copy, has 0');
    expect(c.missing).toContain('copy gcs is pending');
  });

  it('never counts a corrupt copy', () => {
    const c = compliance321([
      copy('local', 'local', false),
      copy('s3', 's3', true, 'corrupt'),
      copy('second', 'fs', false),
    ]);
    expect(c).toMatchObject({ ok: false, copies: 3, offsite: 0 });
  });
});
