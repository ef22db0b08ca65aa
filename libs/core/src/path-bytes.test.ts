import { describe, expect, it } from 'vitest';
import { displayBytes, rawUnlessPlain } from './path-bytes.ts';

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

  it('shows ASCII control characters as \\xHH too', () => {
    expect(displayBytes(Buffer.from('a\nb\tc\x7f'))).toBe('a\\x0ab\\x09c\\x7f');
  });

  it('keeps the raw bytes unless the plain string recreates the name exactly', () => {
    expect(rawUnlessPlain(Buffer.from('plain ✓ é'))).toBeNull();
    expect(rawUnlessPlain(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x61, 0xff]));
    expect(rawUnlessPlain(Buffer.from('a\nb'))).toEqual(Buffer.from('a\nb'));
    // "é" as e + combining acute (NFD): a host may also hold the NFC spelling beside it.
    const nfd = Buffer.from('e\u0301');
    expect(rawUnlessPlain(nfd)).toEqual(nfd);
  });
});
