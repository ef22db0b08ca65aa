import { describe, expect, it } from 'vitest';
import { partSizeFor } from './s3-target.ts';

const MiB = 1024 * 1024;

describe('partSizeFor', () => {
  it('keeps the configured part size while 10,000 parts suffice', () => {
    expect(partSizeFor(8 * MiB, undefined)).toBe(8 * MiB);
    expect(partSizeFor(8 * MiB, 1024 * MiB)).toBe(8 * MiB);
  });
  it('grows parts (whole MiB) for a file that would need more than 10,000', () => {
    const size = 200 * 1024 * MiB; // 200 GiB
    const part = partSizeFor(8 * MiB, size);
    expect(part % MiB).toBe(0);
    expect(Math.ceil(size / part)).toBeLessThanOrEqual(10_000);
  });
});
