import { describe, expect, it } from 'vitest';
import { BadInputError } from './errors.ts';
import { assertCleanAbsolutePath, isInside } from './paths.ts';

describe('assertCleanAbsolutePath', () => {
  it('accepts clean absolute paths', () => {
    expect(assertCleanAbsolutePath('/srv/app')).toBe('/srv/app');
    expect(assertCleanAbsolutePath('/')).toBe('/');
  });
  it.each(['srv/app', '/srv/../etc', '/srv/./app', '/srv//app', '/srv/app/', '/srv/a\0b'])(
    'rejects %j',
    (p) => {
      expect(() => assertCleanAbsolutePath(p)).toThrow(BadInputError);
    },
  );
});

describe('isInside', () => {
  it('compares whole segments', () => {
    expect(isInside('/srv/app/x', '/srv/app')).toBe(true);
    expect(isInside('/srv/app', '/srv/app')).toBe(true);
    expect(isInside('/srv/application', '/srv/app')).toBe(false);
    expect(isInside('/anything', '/')).toBe(true);
  });
});
