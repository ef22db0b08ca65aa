import type { CopyRow } from '@fleet-backup/db';
import { describe, expect, it } from 'vitest';
import { chooseDrillCopy, restoreFailureReason } from './choose.ts';

function copy(
  target: string,
  kind: string,
  offsite: boolean,
  status: CopyRow['status'] = 'verified',
): CopyRow {
  return { target, kind, offsite, encryption: 'none', status, detail: {}, verifiedAt: null };
}

const COPIES = [
  copy('local', 'local', false),
  copy('second', 'fs', false),
  copy('s3', 's3', true),
  copy('gcs', 'gcs', true, 'corrupt'),
];

describe('chooseDrillCopy', () => {
  it('prefers a verified offsite copy, then another disk, never the host itself', () => {
    expect(chooseDrillCopy('k', COPIES, null).target).toBe('s3');
    expect(
      chooseDrillCopy('k', [copy('local', 'local', false), copy('second', 'fs', false)], null).target,
    ).toBe('second');
    expect(() => chooseDrillCopy('20260101', [copy('local', 'local', false)], null)).toThrow(
      'backup 20260101 has no verified copy on a target (copies: none)',
    );
  });

  it('takes the copy asked for by name or kind, and refuses one that is not verified', () => {
    expect(chooseDrillCopy('k', COPIES, 'second').target).toBe('second');
    expect(chooseDrillCopy('k', COPIES, 'fs').target).toBe('second');
    expect(() => chooseDrillCopy('k', COPIES, 'gcs')).toThrow(
      /copy gcs of backup k is corrupt, not verified/,
    );
    expect(() => chooseDrillCopy('k', COPIES, 'local')).toThrow(/has no copy "local" on a target/);
    expect(() => chooseDrillCopy('k', COPIES, 'azure')).toThrow(
      'backup k has no copy "azure" on a target (copies: second (verified), s3 (verified), gcs (corrupt))',
    );
  });
});

describe('restoreFailureReason', () => {
  it('names the file and the copy, and calls a hash difference a sha256 mismatch', () => {
    expect(restoreFailureReason('etc/app.yaml', 's3', 'etc/app.yaml: bytes hash to ab, expected cd')).toBe(
      'etc/app.yaml from copy s3: sha256 mismatch (bytes hash to ab, expected cd)',
    );
    expect(restoreFailureReason('data.db', 'gcs', 'blob missing')).toBe(
      'data.db from copy gcs: blob missing',
    );
  });
});
