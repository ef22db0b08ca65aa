import { describe, expect, it } from 'vitest';
import { BACKUP_KEY, backupKey, slugify } from './naming.ts';

describe('backupKey', () => {
  const at = new Date('2026-03-04T05:06:07Z');
  it('is YYYYMMDD for a daily, in UTC', () => {
    expect(backupKey('daily', at)).toBe('20260304');
    expect(backupKey('daily', new Date('2026-03-04T23:59:59-05:00'))).toBe('20260305');
  });
  it('is YYYYMMDD_HHMM_description for event backups', () => {
    expect(backupKey('pre_change', at, 'Migrate DB to v42!')).toBe('20260304_0506_migrate-db-to-v42');
    expect(backupKey('manual', at)).toBe('20260304_0506_manual');
  });
  it('matches the key pattern', () => {
    for (const k of [backupKey('daily', at), backupKey('manual', at, 'Ünïcode   stuff')])
      expect(k).toMatch(BACKUP_KEY);
  });
  it('slugifies to a bounded, safe word list', () => {
    expect(slugify('../../etc/passwd')).toBe('etc-passwd');
    expect(slugify('   ')).toBe('backup');
    expect(slugify('x'.repeat(100))).toHaveLength(48);
  });
});
