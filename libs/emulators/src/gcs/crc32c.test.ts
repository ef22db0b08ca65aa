import { describe, expect, it } from 'vitest';
import { patternBytes } from '../test-helpers.ts';
import { crc32c, crc32cBase64, crc32cUpdate } from './crc32c.ts';

describe('crc32c', () => {
  it('matches the standard check value and known vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
  });

  it('is the same fed whole or in uneven pieces', () => {
    const data = patternBytes(100_003, 5);
    let running = 0;
    for (let i = 0; i < data.length; i += 7919) running = crc32cUpdate(running, data.subarray(i, i + 7919));
    expect(running).toBe(crc32c(data));
  });

  it('encodes as base64 of the big-endian bytes, as GCS does', () => {
    expect(crc32cBase64(0xe3069283)).toBe('4waSgw==');
    // The empty object's crc32c as GCS reports it.
    expect(crc32cBase64(crc32c(Buffer.alloc(0)))).toBe('AAAAAA==');
  });
});
