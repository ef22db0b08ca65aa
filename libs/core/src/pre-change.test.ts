import { describe, expect, it } from 'vitest';
import {
  preChangeBackupRequest,
  preChangeJobSchema,
  preChangeRequestSchema,
  retentionAfterSnapshot,
} from './pre-change.ts';
import { backupRequestSchema } from './request.ts';

const base = {
  host: 'db-01',
  paths: ['/srv/db'],
  description: 'Before v2 migration',
  change_ticket: 'CHG-42',
};

describe('pre-change requests', () => {
  it('become a pre_change backup request, leaving retention unset by default', () => {
    const req = preChangeBackupRequest(preChangeRequestSchema.parse(base));
    expect(req).toEqual({
      host: 'db-01',
      kind: 'pre_change',
      paths: ['/srv/db'],
      description: 'Before v2 migration',
      ticket: 'CHG-42',
    });
    expect(backupRequestSchema.parse(req)).toEqual(req);
  });

  it('keep a migration permanently unless the caller chose a retention', () => {
    expect(preChangeBackupRequest({ ...base, migration: true }).retention).toBe('permanent');
    expect(preChangeBackupRequest({ ...base, migration: true, retention: 'days_7' }).retention).toBe(
      'days_7',
    );
    expect(preChangeBackupRequest({ ...base, retention: 'until_verified' }).retention).toBe('until_verified');
  });

  it('reject what is missing or unknown, with the field named', () => {
    for (const bad of [
      { ...base, change_ticket: undefined },
      { ...base, description: ' ' },
      { ...base, retention: 'forever' },
      { ...base, paths: ['relative'] },
      { ...base, kind: 'daily' },
      { ...base, migration: 'yes' },
      { ...base, id: 'not-a-uuid' },
    ]) {
      expect(preChangeRequestSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('require a caller-chosen id on the queue', () => {
    expect(preChangeJobSchema.safeParse(base).success).toBe(false);
    expect(
      preChangeJobSchema.safeParse({ ...base, id: '6f1c1c36-1d5e-4c8f-9a53-0d5d3c7a1b2e' }).success,
    ).toBe(true);
  });

  it('upgrade a default-retention pre_change holding database files to permanent, and nothing else', () => {
    expect(retentionAfterSnapshot({ kind: 'pre_change' }, ['config', 'database'])).toBe('permanent');
    expect(retentionAfterSnapshot({ kind: 'pre_change' }, ['config', 'general'])).toBeNull();
    expect(
      retentionAfterSnapshot({ kind: 'pre_change', retention: 'until_verified' }, ['database']),
    ).toBeNull();
    expect(retentionAfterSnapshot({ kind: 'manual' }, ['database'])).toBeNull();
  });
});
