import { seededRandom } from '@fleet-backup/storage/testing/faulty';
/**
 * Deterministic random inputs for the fuzzers: a seeded generator, and values crafted to break
 * parsers and databases (NUL and other control characters, lone surrogates, huge and deep
 * values, prototype keys, numbers as strings, arrays for scalars).
 */

export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

/** A seeded source of choices: the same sequence for the same seed on every machine. */
export function random(seed: number): Random {
  const next = seededRandom(seed);
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: (items) => items[int(items.length)]!, chance: (p) => next() < p };
}

/** Strings that have broken or could break a parser, a query, a log line or a terminal. */
export const CRAFTED_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\n',
  '/srv/x\n/etc',
  'CHG-1\r\nX-Injected: 1',
  '\u001b[31mred\u001b[0m',
  '\u007f',
  '\u0085',
  '\u009b',
  '\ud800',
  'a\udfffb',
  '\u202eevil',
  '\u2028',
  '🙂',
  'é',
  'ｆｕｌｌ',
  'Ω≈ç√',
  '..',
  '../../etc/passwd',
  '/',
  '//srv',
  '/srv/../etc',
  '%00',
  '%zz',
  '%',
  '__proto__',
  'constructor',
  'prototype',
  'null',
  'undefined',
  'true',
  '-1',
  '0',
  '1e309',
  'NaN',
  '0x10',
  ' 5',
  '99999999999999999999',
  "'; DROP TABLE backups; --",
  '$(reboot)',
  '`id`',
  '{"a":1}',
  '<script>alert(1)</script>',
  'x'.repeat(256),
  'x'.repeat(5_000),
  'é'.repeat(3_000),
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  '7D0C4A52-3C1E-4F7B-8A55-2F0E9B1C6D11',
  '20260601',
  '20260601_0930_x',
];

/** A random string of random code points (ASCII, Latin, CJK, emoji, controls, surrogates). */
export function randomString(r: Random, max = 40): string {
  const ranges: [number, number][] = [
    [0x20, 0x7e],
    [0x00, 0x1f],
    [0x7f, 0x9f],
    [0xa0, 0x2ff],
    [0x4e00, 0x4fff],
    [0x1f600, 0x1f64f],
    [0xd800, 0xdfff],
  ];
  let s = '';
  for (let i = r.int(max + 1); i > 0; i--) {
    const [lo, hi] = r.chance(0.7) ? ranges[0]! : r.pick(ranges);
    s += String.fromCodePoint(lo + r.int(hi - lo + 1));
  }
  return s;
}

/** A crafted or random string. */
export function fuzzString(r: Random): string {
  return r.chance(0.6) ? r.pick(CRAFTED_STRINGS) : randomString(r);
}

/** Nested arrays `depth` deep: parsers that recurse can overflow their stack. */
export function deep(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** A value of a random type: the wrong one for most fields. */
export function fuzzValue(r: Random): unknown {
  switch (r.int(10)) {
    case 0:
      return r.pick([0, -1, 1.5, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER, -0]);
    case 1:
      return r.chance(0.5);
    case 2:
      return null;
    case 3:
      return [fuzzString(r)];
    case 4:
      return { [fuzzString(r)]: fuzzString(r) };
    case 5:
      return deep(1 + r.int(2_000));
    case 6:
      return String(r.int(1000));
    default:
      return fuzzString(r);
  }
}
