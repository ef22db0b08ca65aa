import { stripVTControlCharacters } from 'node:util';
import stringWidth from 'string-width';

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

/** The text without ANSI escape sequences. */
export const stripAnsi = stripVTControlCharacters;

/** Columns the text takes on a terminal (wide CJK and emoji count 2, combining marks 0), ignoring color codes. */
export const displayWidth: (text: string) => number = stringWidth;
