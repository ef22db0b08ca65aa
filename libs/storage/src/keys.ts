import { PermanentError } from './errors.ts';

/** Longest key accepted, in UTF-8 bytes: S3's limit, so a key valid here is valid on every target. */
export const MAX_KEY_BYTES = 1024;

/** Why `segment` cannot be a complete path segment of a key, or undefined when it can. */
function segmentProblem(segment: string): string | undefined {
  if (segment === '') return 'has an empty segment (leading, trailing or doubled "/")';
  if (segment === '.' || segment === '..') return `has a "${segment}" segment`;
  return undefined;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Why the characters of `text` are unsafe on some target, or undefined when they are fine. */
function characterProblem(text: string): string | undefined {
  if (text.includes('\0')) return 'contains a NUL character';
  // Other control characters have no XML 1.0 form, so S3 could not list them back.
  if (hasControlCharacter(text)) return 'contains a control character';
  // A backslash is a separator on Windows tools and some fuse mounts; forbid it so keys map 1:1 to paths.
  if (text.includes('\\')) return 'contains a backslash';
  // Lone surrogates have no UTF-8 form: the stored name would differ from the key.
  if (!text.isWellFormed()) return 'is not well-formed Unicode';
  if (Buffer.byteLength(text, 'utf8') > MAX_KEY_BYTES) return `is longer than ${MAX_KEY_BYTES} bytes`;
  return undefined;
}

/** Why `key` is not a valid object key, or undefined when it is valid. */
export function keyProblem(key: string): string | undefined {
  if (key === '') return 'is empty';
  if (key.startsWith('/')) return 'is absolute (starts with "/")';
  const chars = characterProblem(key);
  if (chars !== undefined) return chars;
  for (const segment of key.split('/')) {
    const problem = segmentProblem(segment);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** True when `key` is a valid object key. */
export function isValidKey(key: string): boolean {
  return keyProblem(key) === undefined;
}

/** Throws PermanentError unless `key` is valid: '/'-separated, relative, no ''/'.'/'..' segments, no control chars or '\\', <= 1024 bytes. */
export function assertValidKey(key: string, target: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) {
    throw new PermanentError(`invalid key ${JSON.stringify(key)} for target ${target}: it ${problem}`, {
      target,
      key,
    });
  }
}

/**
 * Throws PermanentError unless `prefix` can start a valid key. The part after the last '/' is a
 * partial segment ('' or e.g. '.' matching '.foo'), so only the complete segments before it are checked.
 */
export function assertValidPrefix(prefix: string, target: string): void {
  const fail = (problem: string): never => {
    throw new PermanentError(
      `invalid list prefix ${JSON.stringify(prefix)} for target ${target}: it ${problem}`,
      {
        target,
      },
    );
  };
  if (prefix === '') return;
  if (prefix.startsWith('/')) fail('is absolute (starts with "/")');
  const chars = characterProblem(prefix);
  if (chars !== undefined) fail(chars);
  const complete = prefix.split('/').slice(0, -1);
  for (const segment of complete) {
    const problem = segmentProblem(segment);
    if (problem !== undefined) fail(problem);
  }
}

/**
 * Splits a prefix into its complete directory segments and the trailing partial segment:
 * 'a/b/c' → { dirs: ['a', 'b'], partial: 'c' }; 'a/b/' → { dirs: ['a', 'b'], partial: '' }.
 */
export function splitPrefix(prefix: string): { dirs: string[]; partial: string } {
  const parts = prefix.split('/');
  const partial = parts.pop() ?? '';
  return { dirs: parts.filter((p) => p !== ''), partial };
}

/**
 * Orders keys by their UTF-8 bytes, as S3 and GCS list them. JavaScript's default string order
 * compares UTF-16 code units, which disagrees for characters above U+FFFF versus U+E000–U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Outside the surrogates, code units order as code points, and so as UTF-8 bytes; the rare
    // pair with a surrogate is compared as bytes. Sorting 20,000 manifest keys by encoding both
    // sides of every comparison cost half a million buffers.
    if ((x & 0xf800) === 0xd800 || (y & 0xf800) === 0xd800)
      return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
    return x - y;
  }
  return a.length - b.length;
}
