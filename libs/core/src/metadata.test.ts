import { describe, expect, it } from 'vitest';
import {
  buildEntry,
  dailyEntrySchema,
  type EntryInput,
  manualEntrySchema,
  preChangeEntrySchema,
} from './metadata.ts';

const base: EntryInput = {
  kind: 'daily',
  created: new Date('2026-01-01T02:00:00Z'),
  expires: new Date('2026-01-31T02:00:00Z'),
  description: null,
  purpose: null,
  creator: null,
  ticket: null,
  retention: null,
  notes: null,
  verified: false,
  lifecycle: null,
  changeVerifiedBy: null,
  changeVerifiedAt: null,
  files: [
    { path: 'srv/b.txt', size: 3, sha256: 'a'.repeat(64), cls: 'general', hasWal: null },
    { path: 'srv/a.db', size: 4096, sha256: 'b'.repeat(64), cls: 'database', hasWal: true },
  ],
};

describe('buildEntry', () => {
  it('builds a daily entry with has_wal on database files only, files sorted', () => {
    const entry = dailyEntrySchema.parse(buildEntry(base));
    expect(Object.keys(entry.files)).toEqual(['srv/a.db', 'srv/b.txt']);
    expect(entry.files['srv/a.db']).toEqual({ size: 4096, hash: 'b'.repeat(64), has_wal: true });
    expect(entry.files['srv/b.txt']).toEqual({ size: 3, hash: 'a'.repeat(64) });
    expect(entry).toMatchObject({ status: 'active', verified: false, expires: '2026-01-31T02:00:00.000Z' });
    expect(buildEntry({ ...base, verified: true })).toMatchObject({ status: 'verified', verified: true });
  });

  it('builds pre_change and manual entries with exactly the seed fields', () => {
    const pre = preChangeEntrySchema.parse(
      buildEntry({ ...base, kind: 'pre_change', description: 'before v2', ticket: 'CHG-1' }),
    );
    expect(pre).toMatchObject({
      status: 'pending_verification',
      retention: 'until_verified',
      verified_by: null,
    });
    const manual = manualEntrySchema.parse(
      buildEntry({ ...base, kind: 'manual', purpose: 'audit', creator: 'ana', retention: 'days_7' }),
    );
    expect(manual).toMatchObject({ purpose: 'audit', creator: 'ana', retention: 'days_7', notes: '' });
  });
});
