import { isUtf8 } from 'node:buffer';

/**
 * A name or path as people and the seed's JSON see it. On Linux a name is bytes, not text: valid
 * UTF-8 shows as itself, and each byte that is not part of a valid UTF-8 sequence, or is an ASCII
 * control character (0x00-0x1f, 0x7f: a newline in a name would split a log line or a table row),
 * shows as `\xHH` (a backslash, `x`, two lowercase hex digits), so `ab\xffc` is the four bytes
 * 61 62 ff 63. The escape is for display and metadata keys only: whoever must recreate the name
 * keeps the raw bytes beside it (`pathBytes`, `targetBytes`, see rawUnlessPlain), which is the
 * only faithful form.
 */
export function displayBytes(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf) && !buf.some(isControl)) return buf.toString('utf8');
  let out = '';
  let start = 0;
  for (let i = 0; i < buf.length; ) {
    const n = isControl(buf[i]!) ? 0 : utf8SequenceLength(buf, i);
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

/**
 * The raw bytes to keep beside a display string: null when the string alone recreates the name
 * exactly and unambiguously. Kept when the bytes are not valid UTF-8 or hold a control character
 * (the string shows escapes), and when the text is not in Unicode's NFC form: a host may hold both
 * the NFC and the NFD spelling of one name, and a restore refuses two plain names that are one
 * once normalised, but not two names that carry their bytes.
 */
export function rawUnlessPlain(bytes: Buffer): Buffer | null {
  if (!isUtf8(bytes) || bytes.some(isControl)) return bytes;
  const text = bytes.toString('utf8');
  return text.normalize('NFC') === text ? null : bytes;
}

function isControl(byte: number): boolean {
  return byte < 0x20 || byte === 0x7f;
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
