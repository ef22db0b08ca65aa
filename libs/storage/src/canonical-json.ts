import { compareKeys } from './keys.ts';

/** Objects with a toJSON method (Date) serialize as JSON.stringify would. */
function hasToJson(value: object): value is { toJSON: () => unknown } {
  return 'toJSON' in value && typeof value.toJSON === 'function';
}

/** What JSON leaves out of an object (and writes as null in an array). */
function absent(value: unknown): boolean {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return true;
  return value !== null && typeof value === 'object' && hasToJson(value) && absent(value.toJSON());
}

/** An array or object as it is laid out: what opens and closes it, and each member with the text before it. */
interface Layout {
  open: string;
  close: string;
  members: { before: string; value: unknown; key: string }[];
}

/** The layout of an array or object (toJSON applied by the caller). */
function layoutOf(value: object, indent: string): Layout {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    const members = value.map((v, i) => ({
      before: `${i ? ',' : ''}\n${inner}`,
      value: absent(v) ? null : v,
      key: `[${i}]`,
    }));
    return members.length
      ? { open: '[', close: `\n${indent}]`, members }
      : { open: '[]', close: '', members };
  }
  const record = value as Record<string, unknown>;
  // Byte order of keys, not insertion order: JS objects put integer-like keys first, which would
  // make the bytes depend on how the object was built rather than on what it holds.
  const keys = Object.keys(record)
    .filter((k) => !absent(record[k]))
    .sort(compareKeys);
  const members = keys.map((key, i) => ({
    before: `${i ? ',' : ''}\n${inner}${JSON.stringify(key)}: `,
    value: record[key],
    key: `.${key}`,
  }));
  return members.length ? { open: '{', close: `\n${indent}}`, members } : { open: '{}', close: '', members };
}

/** A value that is not an array or object (after toJSON), or null when it is one. */
function leafText(value: unknown, path: () => string): string | null {
  if (value !== null && typeof value === 'object') return null;
  if (typeof value === 'number' && !Number.isFinite(value))
    throw new TypeError(`${path()}: ${value} has no JSON form`);
  if (typeof value === 'bigint') throw new TypeError(`${path()}: bigint has no JSON form`);
  return JSON.stringify(value);
}

function unwrap(value: unknown): unknown {
  return value !== null && typeof value === 'object' && hasToJson(value) ? unwrap(value.toJSON()) : value;
}

function render(value: unknown, indent: string, path: string): string {
  const v = unwrap(value);
  const leaf = leafText(v, () => path);
  if (leaf !== null) return leaf;
  const laid = layoutOf(v as object, indent);
  const inner = `${indent}  `;
  let text = laid.open;
  for (const m of laid.members) text += m.before + render(m.value, inner, path + m.key);
  return text + laid.close;
}

/** Not the fast path: a key JSON.stringify would reorder, or a value it would write differently. */
const SLOW = Symbol('slow');

/**
 * `value` rebuilt with its object keys in byte order, for JSON.stringify to write: the same text
 * as render, at native speed. SLOW when stringify would not write it exactly as render does
 * (integer-like keys, which objects put first; numbers with no JSON form; bigints).
 */
function sortedCopy(value: unknown): unknown {
  const v = unwrap(value);
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'bigint' || (typeof v === 'number' && !Number.isFinite(v))) return SLOW;
    return v;
  }
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const m of v) {
      const c = absent(m) ? null : sortedCopy(m);
      if (c === SLOW) return SLOW;
      out.push(c);
    }
    return out;
  }
  const record = v as Record<string, unknown>;
  // No prototype: a key named __proto__ (a file may be called that) stays a key.
  const out: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(record).sort(compareKeys)) {
    if (absent(record[key])) continue;
    if (INTEGER_LIKE.test(key)) return SLOW;
    const c = sortedCopy(record[key]);
    if (c === SLOW) return SLOW;
    out[key] = c;
  }
  return out;
}

/** Keys a JS object orders before all others, whatever the insertion order (array indexes). */
const INTEGER_LIKE = /^(0|[1-9]\d*)$/;

/** render's text for a small value; through JSON.stringify when that gives the same text. */
function renderSmall(value: unknown, indent: string, path: string): string {
  const copy = sortedCopy(value);
  if (copy === SLOW) return render(value, indent, path);
  // JSON escapes every newline inside a string, so each one in the text is a line break.
  return JSON.stringify(copy, null, 2).replaceAll('\n', `\n${indent}`);
}

// A value of at most this many arrays, objects and members in all is written whole; a larger one a
// member at a time, so a large document never exists whole.
const WHOLE_NODES = 256;

/** Whether `value` has at most `budget` nodes (counting stops once it has more). */
function small(value: unknown, budget = WHOLE_NODES): boolean {
  let left = budget;
  const count = (v: unknown): boolean => {
    if (v === null || typeof v !== 'object') return true;
    const members = Object.values(v);
    left -= 1 + members.length;
    return left >= 0 && members.every(count);
  };
  return count(value);
}

function* pieces(value: unknown, indent: string, path: string): Generator<string> {
  const v = unwrap(value);
  const leaf = leafText(v, () => path);
  if (leaf !== null) return yield leaf;
  if (small(v)) return yield renderSmall(v, indent, path);
  const laid = layoutOf(v as object, indent);
  yield laid.open;
  for (const m of laid.members) {
    yield m.before;
    yield* pieces(m.value, `${indent}  `, path + m.key);
  }
  yield laid.close;
}

// Pieces are gathered into chunks of about this many characters: few writes, memory bounded.
const CHUNK = 64 * 1024;

/**
 * canonicalJson's text in chunks of about 64 KiB, made as they are read: for a document too large
 * to hold whole (a manifest of a few hundred thousand files).
 */
export function* canonicalJsonChunks(value: unknown): Generator<string> {
  if (absent(value)) throw new TypeError('canonicalJson: value has no JSON form');
  let out = '';
  for (const piece of pieces(value, '', '$')) {
    out += piece;
    if (out.length >= CHUNK) {
      yield out;
      out = '';
    }
  }
  yield `${out}\n`;
}

/**
 * JSON with object keys sorted by bytes, 2-space indent and a final newline: equal values always
 * give equal bytes, which write-once objects rely on to tell a harmless rewrite from a conflict.
 */
export function canonicalJson(value: unknown): string {
  let text = '';
  for (const chunk of canonicalJsonChunks(value)) text += chunk;
  return text;
}
