import { isUtf8 } from 'node:buffer';

/**
 * A name or path as people and the seed's JSON see it. On Linux a name is bytes, not text: valid
 * UTF-8 shows as itself, and each byte that is not part of a valid UTF-8 sequence shows as `\xHH`
 * (a backslash, `x`, two lowercase hex digits), so `ab\xffc` is the four bytes 61 62 ff 63. The
 * escape is for display and metadata keys only: whoever must recreate the name keeps the raw
 * bytes beside it (`pathBytes`, `targetBytes`), which is the only faithful form.
 */
export function displayBytes(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) return buf.toString('utf8');
  let out = '';
  let start = 0;
  for (let i = 0; i < buf.length; ) {
    const n = utf8SequenceLength(buf, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += `${buf.toString('utf8', start, i)}\\x${buf[i]!.toString(16).padStart(2, '0')}`;
    i += 1;
    start = i;
  }
  return out + buf.toString('utf8', start);
}

/** The raw bytes to keep beside a display string: null when the bytes are valid UTF-8 (the string is then exact). */
export function rawUnlessUtf8(bytes: Buffer): Buffer | null {
  return isUtf8(bytes) ? null : bytes;
}

/** Length of the valid UTF-8 sequence starting at i (Unicode's table 3-7: no overlongs, no surrogates), or 0. */
function utf8SequenceLength(b: Buffer, i: number): number {
  const lead = b[i]!;
  if (lead < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const c = b[i + k];
    return c !== undefined && c >= lo && c <= hi;
  };
  if (lead >= 0xc2 && lead <= 0xdf) return cont(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    const lo = lead === 0xe0 ? 0xa0 : 0x80;
    const hi = lead === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const lo = lead === 0xf0 ? 0x90 : 0x80;
    const hi = lead === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
