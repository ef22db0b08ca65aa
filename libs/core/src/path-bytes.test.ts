import { describe, expect, it } from 'vitest';
import { displayBytes, rawUnlessUtf8 } from './path-bytes.ts';

describe('displayBytes', () => {
  it('shows valid UTF-8 as itself, multi-byte characters included', () => {
    expect(displayBytes(Buffer.from('ünïcødé ✓ 🌍/x'))).toBe('ünïcødé ✓ 🌍/x');
  });

  it('shows each byte outside a valid sequence as \\xHH, keeping the valid text around it', () => {
    expect(displayBytes(Buffer.from([0x61, 0x62, 0xff, 0x63]))).toBe('ab\\xffc');
    // Latin-1 "é" alone, a truncated 3-byte sequence, an overlong "/" and a UTF-16 surrogate.
    expect(displayBytes(Buffer.from([0xe9, 0x2e, 0x74]))).toBe('\\xe9.t');
    expect(displayBytes(Buffer.from([0xe2, 0x9c, 0x2f, 0xe2, 0x9c, 0x93]))).toBe('\\xe2\\x9c/✓');
    expect(displayBytes(Buffer.from([0xc0, 0xaf]))).toBe('\\xc0\\xaf');
    expect(displayBytes(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\\xed\\xa0\\x80');
  });

  it('keeps the raw bytes only when they are not valid UTF-8', () => {
    expect(rawUnlessUtf8(Buffer.from('plain ✓'))).toBeNull();
    expect(rawUnlessUtf8(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x61, 0xff]));
  });
});
