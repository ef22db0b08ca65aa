import { compareKeys } from './keys.ts';

/** Objects with a toJSON method (Date) serialize as JSON.stringify would. */
function hasToJson(value: object): value is { toJSON: () => unknown } {
  return 'toJSON' in value && typeof value.toJSON === 'function';
}

function render(value: unknown, indent: string, path: string): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} has no JSON form`);
      return JSON.stringify(value);
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw new TypeError(`${path}: bigint has no JSON form`);
  }
  if (typeof value !== 'object') return undefined;
  if (hasToJson(value)) return render(value.toJSON(), indent, path);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const items = value.map((v, i) => `${inner}${render(v, inner, `${path}[${i}]`) ?? 'null'}`);
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  const fields: string[] = [];
  // Byte order of keys, not insertion order: JS objects put integer-like keys first, which would
  // make the bytes depend on how the object was built rather than on what it holds.
  for (const key of Object.keys(value).sort(compareKeys)) {
    const rendered = render((value as Record<string, unknown>)[key], inner, `${path}.${key}`);
    if (rendered !== undefined) fields.push(`${inner}${JSON.stringify(key)}: ${rendered}`);
  }
  return fields.length === 0 ? '{}' : `{\n${fields.join(',\n')}\n${indent}}`;
}

/**
 * JSON with object keys sorted by bytes, 2-space indent and a final newline: equal values always
 * give equal bytes, which write-once objects rely on to tell a harmless rewrite from a conflict.
 */
export function canonicalJson(value: unknown): string {
  const body = render(value, '', '$');
  if (body === undefined) throw new TypeError('canonicalJson: value has no JSON form');
  return `${body}\n`;
}
