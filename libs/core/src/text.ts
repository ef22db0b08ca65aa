import { z } from 'zod';
import { assertCleanAbsolutePath } from './paths.ts';

/**
 * Limits and character rules for what callers send: paths, names, tickets, descriptions. Every
 * boundary (CLI, API, job payload) parses with these, so a value that reaches Postgres, a log
 * line, a table or a shell command is one printable line of a bounded size.
 */

/** Linux PATH_MAX (4096) counts the terminating NUL, so a path holds at most 4095 bytes. */
export const MAX_PATH_BYTES = 4095;
/** Linux NAME_MAX: the bytes of one path component. */
export const MAX_NAME_BYTES = 255;
/** Paths one request may name; more is better said as a common parent directory. */
export const MAX_PATHS = 100;

// C0 controls, DEL and C1 controls. A newline in a path or a ticket splits a log line, a table row
// or a suggested shell command in two; ESC sequences rewrite an operator's terminal.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Free text (notes, a failure's reason) may span lines: tab and newline pass, the rest do not.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** Why a string is not printable text, or null when it is. */
export function unprintable(s: string, opts: { multiline?: boolean } = {}): string | null {
  const match = (opts.multiline ? CONTROL_BUT_LINES : CONTROL).exec(s);
  if (match) {
    const code = match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return `contains the control character U+${code} at position ${match.index}; only printable characters are allowed`;
  }
  // A lone surrogate cannot be encoded as UTF-8: Postgres would refuse it, or store U+FFFD in its place.
  if (!s.isWellFormed()) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
  return null;
}

const printable = (multiline: boolean) => (s: string, ctx: z.RefinementCtx) => {
  const why = unprintable(s, { multiline });
  if (why) ctx.addIssue({ code: 'custom', message: why });
};

/** One line of text (a name, a ticket, a description): trimmed, 1 to max characters, printable. */
export function lineText(max: number) {
  return z.string().trim().min(1).max(max).superRefine(printable(false));
}

/** Free text that may span lines (notes, a reason): trimmed, 1 to max characters, no other control character. */
export function freeText(max: number) {
  return z.string().trim().min(1).max(max).superRefine(printable(true));
}

/** Why an absolute path breaks a length limit of Linux, or null. */
export function pathTooLong(p: string): string | null {
  const bytes = Buffer.byteLength(p);
  if (bytes > MAX_PATH_BYTES)
    return `is ${bytes} bytes long; a path holds at most ${MAX_PATH_BYTES} (PATH_MAX)`;
  for (const name of p.split('/')) {
    const n = Buffer.byteLength(name);
    if (n > MAX_NAME_BYTES) {
      return `has a component of ${n} bytes (${JSON.stringify(`${name.slice(0, 24)}…`)}); a name holds at most ${MAX_NAME_BYTES} (NAME_MAX)`;
    }
  }
  return null;
}

/**
 * An absolute path a request may name: printable, within PATH_MAX and NAME_MAX, and clean
 * (absolute, normalised, no NUL: see assertCleanAbsolutePath).
 */
export const requestPathSchema = z
  .string()
  // Checked before anything reads it whole: a megabyte string is refused on its length alone.
  .max(MAX_PATH_BYTES, { message: `a path holds at most ${MAX_PATH_BYTES} bytes (PATH_MAX)`, abort: true })
  .superRefine((p, ctx) => {
    const why = unprintable(p) ?? pathTooLong(p);
    if (why) return void ctx.addIssue({ code: 'custom', message: `path ${why}` });
    try {
      assertCleanAbsolutePath(p);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

/** The paths of one request: 1 to MAX_PATHS of them. */
export const requestPathsSchema = z
  .array(requestPathSchema)
  .min(1, 'name at least one path')
  .max(MAX_PATHS, `at most ${MAX_PATHS} paths per request; name a common parent directory instead`);
