import { describe, expect, it } from 'vitest';
import { backupSafety, type SafetyInput } from './safety.ts';
import type { CopyStatus } from './status.ts';

const copy = (target: string, offsite: boolean, status: CopyStatus) => ({ target, offsite, status });
const input = (
  status: SafetyInput['status'],
  copies: SafetyInput['copies'],
  lifecycle: string | null = null,
) => ({
  status,
  lifecycle,
  copies,
});
const ONE = { offsiteCopies: 1 };

describe('backupSafety', () => {
  it('is safe once the local copy is hashed and one offsite copy verified, whatever the others do', () => {
    const s = backupSafety(
      input('running', [
        copy('local', false, 'verified'),
        copy('second', false, 'pending'),
        copy('s3', true, 'verified'),
        copy('gcs', true, 'replicated'),
      ]),
      ONE,
    );
    expect(s).toMatchObject({ safe: true, possible: true, localHashed: true, offsiteVerified: 1 });
    expect(s.reason).toMatch(/local copy hashed and 1 offsite copy verified/);
  });

  it('waits for the local hash, then for the offsite copies', () => {
    const before = backupSafety(
      input('running', [copy('local', false, 'pending'), copy('s3', true, 'pending')]),
      ONE,
    );
    expect(before).toMatchObject({ safe: false, possible: true });
    expect(before.reason).toMatch(/local copy/);
    const hashed = backupSafety(
      input('running', [copy('local', false, 'verified'), copy('s3', true, 'replicated')]),
      ONE,
    );
    expect(hashed).toMatchObject({
      safe: false,
      possible: true,
      reason: 'waiting for offsite copies to verify (0 of 1)',
    });
  });

  it('never counts an on-site copy as offsite', () => {
    const s = backupSafety(
      input('verified', [copy('local', false, 'verified'), copy('second', false, 'verified')]),
      ONE,
    );
    expect(s).toMatchObject({ safe: false, possible: false });
    expect(s.reason).toMatch(/needs 1 verified offsite copy but only 0 offsite targets/);
  });

  it('takes the number of offsite copies from the rule, 0 meaning the local hash alone', () => {
    const copies = [
      copy('local', false, 'verified'),
      copy('s3', true, 'verified'),
      copy('gcs', true, 'pending'),
    ];
    expect(backupSafety(input('running', copies), { offsiteCopies: 2 }).safe).toBe(false);
    expect(backupSafety(input('running', copies), { offsiteCopies: 2 }).possible).toBe(true);
    expect(
      backupSafety(input('running', [copy('local', false, 'verified')]), { offsiteCopies: 0 }).safe,
    ).toBe(true);
  });

  it('says when it can never become safe: failed, corrupt, gone', () => {
    const failed = backupSafety(
      input('failed', [copy('local', false, 'pending'), copy('s3', true, 'pending')]),
      ONE,
    );
    expect(failed).toMatchObject({ safe: false, possible: false });
    expect(failed.reason).toMatch(/stage failed/);
    const corrupt = backupSafety(
      input('running', [copy('local', false, 'verified'), copy('s3', true, 'corrupt')]),
      ONE,
    );
    expect(corrupt).toMatchObject({ safe: false, possible: false });
    const localBad = backupSafety(
      input('running', [copy('local', false, 'corrupt'), copy('s3', true, 'verified')]),
      ONE,
    );
    expect(localBad).toMatchObject({ safe: false, possible: false });
    const retired = backupSafety(
      input('verified', [copy('local', false, 'verified'), copy('s3', true, 'verified')], 'retired'),
      ONE,
    );
    expect(retired).toMatchObject({ safe: false, possible: false, reason: 'the backup is retired' });
  });

  it('stays safe after the change is verified, and when a non-required copy failed', () => {
    const copies = [
      copy('local', false, 'verified'),
      copy('s3', true, 'verified'),
      copy('gcs', true, 'pending'),
    ];
    expect(backupSafety(input('verified', copies, 'verified'), ONE).safe).toBe(true);
    expect(backupSafety(input('failed', copies), ONE).safe).toBe(true);
  });
});

describe('backupSafety of an incomplete backup', () => {
  it('is never safe while required files are missing, even with every copy verified', () => {
    const copies = [copy('local', false, 'verified'), copy('s3', true, 'verified')];
    for (const status of ['running', 'incomplete'] as const) {
      const s = backupSafety({ ...input(status, copies), missing: ['/srv/app/app.db'] }, ONE);
      expect(s).toMatchObject({ safe: false, possible: false });
      expect(s.reason).toMatch(/required files missing: \/srv\/app\/app\.db/);
    }
  });
});
