/**
 * Terminal styling for people: colors only when the output is a terminal and NO_COLOR
 * (https://no-color.org: any non-empty value) is not set. Pipes, files and CI logs stay plain.
 */

export type Tone = 'green' | 'red' | 'yellow' | 'dim' | 'bold';

const SGR: Record<Tone, [number, number]> = {
  green: [32, 39],
  red: [31, 39],
  yellow: [33, 39],
  dim: [2, 22],
  bold: [1, 22],
};

/** Whether to color what goes to this stream. */
export function colorEnabled(
  stream: { isTTY?: boolean } = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

/** Wraps text in one color when enabled; returns it untouched otherwise. */
export function paint(text: string, tone: Tone | null, enabled: boolean): string {
  if (!enabled || !tone || !text) return text;
  const [on, off] = SGR[tone];
  return `\x1b[${on}m${text}\x1b[${off}m`;
}

/** The color of a backup, stage or copy status: good green, broken red, short of good yellow. */
export function statusTone(status: string): Tone | null {
  switch (status) {
    case 'verified':
    case 'done':
    case 'ok':
      return 'green';
    case 'failed':
    case 'corrupt':
      return 'red';
    case 'unverified':
    case 'incomplete':
      return 'yellow';
    default:
      return null;
  }
}

/** A status word colored for stdout (plain unless stdout is a terminal and NO_COLOR is unset). */
export function statusCell(status: string, enabled = colorEnabled()): string {
  return paint(status, statusTone(status), enabled);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching escape sequences is the point
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** The text without ANSI escape sequences. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
// Zero width: combining marks (variation selectors among them), format characters (ZWJ, BOM, bidi marks).
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]+$/u;
const EMOJI = /\p{Extended_Pictographic}/u;

/** Terminal columns of one grapheme: 2 for East Asian wide/fullwidth and emoji, 0 for marks. */
function graphemeWidth(g: string): number {
  if (ZERO_WIDTH.test(g)) return 0;
  if (EMOJI.test(g) && (g.length > 1 || (g.codePointAt(0) ?? 0) > 0x2fff)) return 2;
  const cp = g.codePointAt(0) ?? 0;
  return isWide(cp) ? 2 : 1;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) || // Hangul Jamo
    (cp >= 0x2e80 && cp <= 0x303e) || // CJK radicals, punctuation
    (cp >= 0x3041 && cp <= 0x33ff) || // kana, CJK symbols
    (cp >= 0x3400 && cp <= 0x4dbf) || // CJK extension A
    (cp >= 0x4e00 && cp <= 0x9fff) || // CJK unified ideographs
    (cp >= 0xa000 && cp <= 0xa4cf) || // Yi
    (cp >= 0xac00 && cp <= 0xd7a3) || // Hangul syllables
    (cp >= 0xf900 && cp <= 0xfaff) || // CJK compatibility ideographs
    (cp >= 0xfe30 && cp <= 0xfe4f) || // CJK compatibility forms
    (cp >= 0xff00 && cp <= 0xff60) || // fullwidth forms
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x20000 && cp <= 0x3fffd) // CJK extensions B and later
  );
}

/** Columns the text takes on a terminal, ignoring color codes. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const { segment } of segmenter.segment(stripAnsi(text))) width += graphemeWidth(segment);
  return width;
}
