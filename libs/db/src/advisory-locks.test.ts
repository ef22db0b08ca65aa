import { describe, expect, it } from 'vitest';
import { ADVISORY_LOCKS } from './advisory-locks.ts';

describe('advisory lock keys', () => {
  it('are distinct, and above the int4 keys hashtext() makes', () => {
    const keys = Object.values(ADVISORY_LOCKS);
    expect(new Set(keys).size).toBe(keys.length);
    for (const k of keys) expect(k).toBeGreaterThan(2 ** 31);
  });
});
