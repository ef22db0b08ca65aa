import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';
import { compareKeys } from './keys.ts';

/** The rules written out plainly, as the oracle: keys in byte order, 2-space indent, JSON's leaves. */
function oracle(value: unknown, indent = ''): string {
  const v = value instanceof Date ? value.toJSON() : value;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    const items = v.map((m) => `${inner}${m === undefined ? 'null' : oracle(m, inner)}`);
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  const rec = v as Record<string, unknown>;
  const keys = Object.keys(rec)
    .filter((k) => rec[k] !== undefined)
    .sort(compareKeys);
  if (!keys.length) return '{}';
  return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${oracle(rec[k], inner)}`).join(',\n')}\n${indent}}`;
}

function seeded(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const KEYS = ['a', 'b', '10', '9', '0', '01', 'é', '\u{1F600}', '\uFFFD', 'a\nb', 'path', 'Z', ''];
const LEAVES = [0, -1.5, 1e21, 'x', 'line\nbreak', '"quoted"', 'ü', true, false, null, undefined];

function randomValue(r: () => number, depth: number): unknown {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)] as T;
  const roll = r();
  if (depth === 0 || roll < 0.4) return roll < 0.05 ? new Date(1_700_000_000_000) : pick(LEAVES);
  const n = Math.floor(r() * 5);
  if (roll < 0.6) return Array.from({ length: n }, () => randomValue(r, depth - 1));
  return Object.fromEntries(Array.from({ length: n }, () => [pick(KEYS), randomValue(r, depth - 1)]));
}

describe('canonicalJson', () => {
  it('writes keys in byte order, integer-like ones too, and leaves out undefined members', () => {
    expect(canonicalJson({ b: 1, 10: 2, a: undefined, 9: [undefined, 'x'] })).toBe(
      '{\n  "10": 2,\n  "9": [\n    null,\n    "x"\n  ],\n  "b": 1\n}\n',
    );
  });

  it('keeps a key named __proto__ as a key', () => {
    expect(canonicalJson(JSON.parse('{"b": {"__proto__": 1, "a": 2}}'))).toBe(
      '{\n  "b": {\n    "__proto__": 1,\n    "a": 2\n  }\n}\n',
    );
  });

  it('orders a key past the surrogates by its UTF-8 bytes, not its UTF-16 units', () => {
    // U+FFFD is EF BF BD in UTF-8, U+1F600 is F0 9F 98 80: the emoji sorts last.
    expect(canonicalJson({ '\u{1F600}': 1, '\uFFFD': 2 })).toBe('{\n  "\uFFFD": 2,\n  "\u{1F600}": 1\n}\n');
  });

  it('refuses numbers with no JSON form, naming where they are', () => {
    expect(() => canonicalJson({ files: { a: { size: Number.NaN } } })).toThrow('$.files.a.size');
    expect(() => canonicalJson({ n: 1n })).toThrow('bigint');
  });

  it('writes what the plain rules write, for many random values large and small', () => {
    const r = seeded(7);
    for (let i = 0; i < 400; i++) {
      const value = {
        top: randomValue(r, 5),
        many: Array.from({ length: i % 3 ? 3 : 300 }, (_, j) => ({ j, v: randomValue(r, 3) })),
      };
      expect(canonicalJson(value)).toBe(`${oracle(value)}\n`);
    }
  });
});
