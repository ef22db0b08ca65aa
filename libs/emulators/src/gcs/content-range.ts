import { HttpError } from './http.ts';

/**
 * A resumable PUT's `Content-Range`, as the client libraries send it:
 *   `bytes 0-999/*`    a chunk, total unknown       `bytes 0-999/2600`  a chunk of a known total
 *   `bytes 0-*\/*`      the whole rest in this request (Node single-request mode)
 *   `bytes *\/2600`     finalize (or query) at 2600 `bytes *\/*`         status query
 *   `bytes 0--1/0`     the Node client's empty object in chunked mode
 */
export interface ContentRange {
  /** First byte of the body, or undefined for `*` (no body). */
  start: number | undefined;
  /** Last byte of the body, undefined when open-ended (`0-*`) or absent. */
  end: number | undefined;
  /** Total object size, or undefined for `*`. */
  total: number | undefined;
}

const RANGE = /^bytes\s+(?:\*|(\d+)-(-?\d+|\*))\/(\d+|\*)$/i;

export function parseContentRange(value: string | undefined): ContentRange {
  // No header at all: the body is the whole object.
  if (value === undefined || value.trim() === '') return { start: 0, end: undefined, total: undefined };
  const match = RANGE.exec(value.trim());
  if (!match) throw new HttpError(400, `Invalid Content-Range: ${value}`, 'invalid');
  const [, start, end, total] = match;
  return {
    start: start === undefined ? undefined : Number(start),
    end: end === undefined || end === '*' ? undefined : Number(end),
    total: total === '*' || total === undefined ? undefined : Number(total),
  };
}
