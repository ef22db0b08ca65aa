import { describe, expect, it } from 'vitest';
import { PermanentError } from './errors.ts';
import {
  assertValidKey,
  assertValidPrefix,
  compareKeys,
  keyProblem,
  MAX_KEY_BYTES,
  splitPrefix,
} from './keys.ts';

describe('keys', () => {
  it('accepts relative keys with unicode and spaces', () => {
    for (const key of [
      'a',
      'a/b/c',
      '.hidden/x',
      'dir with space/héllo wörld ✓.txt',
      '..a/b..',
      'x'.repeat(1024),
    ]) {
      expect(keyProblem(key), key).toBeUndefined();
    }
  });

  it('rejects absolute, empty-segment, dot-segment, NUL, backslash, control and overlong keys', () => {
    const bad = [
      '',
      '/a',
      'a/',
      'a//b',
      '.',
      '..',
      '../x',
      'a/./b',
      'a/..',
      'a\0b',
      'a\\b',
      'a\nb',
      '\uD800',
    ];
    for (const key of [...bad, 'x'.repeat(MAX_KEY_BYTES + 1), 'é'.repeat(513)]) {
      expect(keyProblem(key), JSON.stringify(key)).toBeDefined();
    }
  });

  it('throws PermanentError naming the key and target', () => {
    expect(() => assertValidKey('../x', 'second')).toThrow(PermanentError);
    expect(() => assertValidKey('../x', 'second')).toThrow(/"\.\.\/x" for target second/);
  });

  it('accepts prefixes ending in a partial segment', () => {
    for (const prefix of ['', 'a', 'a/', 'a/b', 'a/.', 'a/..', '.']) {
      expect(() => assertValidPrefix(prefix, 't'), prefix).not.toThrow();
    }
    for (const prefix of ['/a', 'a//', '../', 'a/./b', 'a\\']) {
      expect(() => assertValidPrefix(prefix, 't'), prefix).toThrow(PermanentError);
    }
  });

  it('splits prefixes into directories and a partial segment', () => {
    expect(splitPrefix('')).toEqual({ dirs: [], partial: '' });
    expect(splitPrefix('a/b/c')).toEqual({ dirs: ['a', 'b'], partial: 'c' });
    expect(splitPrefix('a/b/')).toEqual({ dirs: ['a', 'b'], partial: '' });
  });

  it('compares by UTF-8 bytes', () => {
    expect(compareKeys('a-b', 'a/b')).toBeLessThan(0);
    expect(compareKeys('\uFFFD', '🎉')).toBeLessThan(0);
    expect('\uFFFD' < '🎉').toBe(false);
  });

  it('orders every pair as their UTF-8 bytes do: astral characters, U+E000–U+FFFF, lone surrogates, prefixes', () => {
    const alphabet = ['a', 'b', '/', '-', 'é', '\uE000', '\uFFFD', '\uFFFF', '🎉', '𐀀', '\uD800', '\uDFFF'];
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const word = () =>
      Array.from(
        { length: Math.floor(random() * 4) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join('');
    for (let i = 0; i < 5000; i++) {
      const [a, b] = [word(), word()];
      const bytes = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
      expect([a, b, Math.sign(compareKeys(a, b))]).toEqual([a, b, bytes]);
    }
  });
});
