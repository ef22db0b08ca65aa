import { describe, expect, it } from 'vitest';
import { endedFor, endingFor, isEnded, isKept } from './lifecycle.ts';
import { buildEntry, type EntryInput } from './metadata.ts';

const input = (over: Partial<EntryInput>): EntryInput => ({
  kind: 'daily',
  created: new Date('2026-01-01T02:00:00Z'),
  expires: new Date('2026-01-31T02:00:00Z'),
  description: 'x',
  purpose: null,
  creator: null,
  ticket: 'CHG-1',
  retention: null,
  notes: null,
  verified: true,
  lifecycle: null,
  changeVerifiedBy: null,
  changeVerifiedAt: null,
  files: [],
  ...over,
});

describe('lifecycle', () => {
  it('tells kept from going and gone; a verified change is still kept', () => {
    expect([null, 'verified', 'expiring', 'retiring', 'expired', 'retired'].map(isKept)).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect(['expiring', 'expired', 'retired'].map(isEnded)).toEqual([false, true, true]);
    expect([endingFor('daily'), endingFor('manual'), endingFor('pre_change')]).toEqual([
      'expiring',
      'expiring',
      'retiring',
    ]);
    expect([endedFor('expiring'), endedFor('retiring')]).toEqual(['expired', 'retired']);
  });

  it('never shows a backup on its way out as intact in its seed entry', () => {
    const daily = (lifecycle: string | null) =>
      (buildEntry(input({ lifecycle })) as { status: string }).status;
    expect([daily(null), daily('expiring'), daily('expired')]).toEqual(['verified', 'expired', 'expired']);
    const pre = (lifecycle: string | null) =>
      (buildEntry(input({ kind: 'pre_change', lifecycle })) as { status: string }).status;
    expect([pre(null), pre('verified'), pre('retiring'), pre('retired')]).toEqual([
      'pending_verification',
      'verified',
      'verified',
      'retired',
    ]);
  });
});
