import { PermanentError } from './errors.ts';
import type { ByteRange } from './target.ts';

/** Throws PermanentError unless the range is well formed: integers, 0 <= start <= end. */
export function assertValidRange(range: ByteRange, where: { target: string; key: string }): void {
  const { start, end } = range;
  const ok =
    Number.isSafeInteger(start) &&
    start >= 0 &&
    (end === undefined || (Number.isSafeInteger(end) && end >= start));
  if (!ok) {
    throw new PermanentError(
      `invalid byte range ${JSON.stringify(range)} for ${where.key} on target ${where.target}`,
      where,
    );
  }
}

/**
 * Inclusive bounds of a range within an object of `size` bytes, with HTTP semantics: an end past
 * the last byte is clamped, a start at or past the end is unsatisfiable (PermanentError, like a 416).
 */
export function resolveRange(
  range: ByteRange | undefined,
  size: number,
  where: { target: string; key: string },
): { start?: number; end?: number } {
  if (range === undefined) return {};
  assertValidRange(range, where);
  if (range.start >= size) {
    throw new PermanentError(
      `byte range starting at ${range.start} is past the end of ${where.key} (${size} bytes) on target ${where.target}`,
      where,
    );
  }
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}
