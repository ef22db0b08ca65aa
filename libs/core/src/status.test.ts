import { describe, expect, it } from 'vitest';
import { deriveStatus } from './status.ts';

describe('deriveStatus', () => {
  const done = { status: 'done' as const };
  it('is verified only when every copy verified', () => {
    expect(deriveStatus([done, done], [{ status: 'verified' }, { status: 'verified' }])).toBe('verified');
    expect(
      deriveStatus([done, { status: 'running' }], [{ status: 'verified' }, { status: 'replicated' }]),
    ).toBe('running');
  });
  it('is unverified when all stages ran and a copy is corrupt', () => {
    expect(deriveStatus([done, done], [{ status: 'verified' }, { status: 'corrupt' }])).toBe('unverified');
  });
  it('is failed when any stage failed', () => {
    expect(deriveStatus([done, { status: 'failed' }], [{ status: 'verified' }])).toBe('failed');
  });
});

describe('deriveStatus with required files missing', () => {
  const done = { status: 'done' as const };
  const missing = ['/srv/app/app.db'];
  it('ends incomplete, never verified, even when every copy verifies', () => {
    expect(deriveStatus([done, done], [{ status: 'verified' }, { status: 'verified' }], missing)).toBe(
      'incomplete',
    );
    expect(deriveStatus([done, done], [{ status: 'verified' }, { status: 'corrupt' }], missing)).toBe(
      'incomplete',
    );
  });
  it('is running until the pipeline ends, and failed when a stage failed', () => {
    expect(deriveStatus([done, { status: 'running' }], [{ status: 'replicated' }], missing)).toBe('running');
    expect(deriveStatus([done, { status: 'failed' }], [{ status: 'verified' }], missing)).toBe('failed');
  });
});
