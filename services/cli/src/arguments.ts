import {
  BadInputError,
  hostIdSchema,
  MAX_PATH_BYTES,
  pathTooLong,
  requestPathSchema,
  unprintable,
} from '@fleet-backup/core';
import type { Command } from 'commander';
import { commandPath } from './help.ts';

/** Why a value is not acceptable, or null when it is. */
type Rule = (value: unknown) => string | null;

const text =
  (max: number, opts: { multiline?: boolean } = {}): Rule =>
  (v) => {
    if (typeof v !== 'string') return 'expected text';
    return unprintable(v, opts) ?? (v.length > max ? `is ${v.length} characters long; at most ${max}` : null);
  };

const wholeNumber =
  (min: number, max: number): Rule =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? null
      : `expected a whole number from ${min} to ${max}`;

const seconds: Rule = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 31 * 86_400
    ? null
    : 'expected a number of seconds from 0 to 2678400 (31 days)';

const schema =
  (s: { safeParse(v: unknown): { success: boolean; error?: { issues: { message: string }[] } } }): Rule =>
  (v) => {
    const parsed = s.safeParse(v);
    return parsed.success ? null : (parsed.error?.issues.map((i) => i.message).join('; ') ?? 'invalid');
  };

/** A path on this machine (where to restore or write): printable, within PATH_MAX and NAME_MAX. */
const localPath: Rule = (v) => {
  if (typeof v !== 'string' || v === '') return 'expected a path';
  const why = unprintable(v) ?? pathTooLong(v);
  return why ? `path ${why}` : null;
};

/** A path as a backup recorded it: any byte but NUL (Linux names may hold newlines), within PATH_MAX. */
const recordedPath: Rule = (v) => {
  if (typeof v !== 'string' || v === '') return 'expected a path';
  if (v.includes('\0')) return 'contains a NUL byte';
  return Buffer.byteLength(v) > MAX_PATH_BYTES ? `is longer than ${MAX_PATH_BYTES} bytes (PATH_MAX)` : null;
};

/** Rules by option (camelCase, as commander names it) or argument name, for every command. */
const RULES: Record<string, Rule> = {
  host: schema(hostIdSchema),
  limit: wholeNumber(1, 100_000),
  concurrency: wholeNumber(1, 1_000),
  version: wholeNumber(1, 1_000_000_000),
  timeout: seconds,
  // The backup request's own schema checks these, and names them as the API does (`paths.0: …`).
  path: () => null,
  pathPrefix: schema(requestPathSchema),
  to: localPath,
  out: localPath,
  file: recordedPath,
  by: text(200),
  creator: text(200),
  name: text(200),
  ticket: text(200),
  description: text(200),
  purpose: text(1000),
  reason: text(4000, { multiline: true }),
  notes: text(4000, { multiline: true }),
};

/** Where one command's argument means something else than the name says. */
const RULES_BY_COMMAND: Record<string, Rule> = {
  'hosts remove id': schema(hostIdSchema),
  'config apply file': localPath,
};

/** Any other value: one printable line of reasonable length. */
const DEFAULT_RULE = text(4096);

/**
 * Checks every option and argument of the command about to run, before it opens a connection
 * or writes anything: a bad value is a usage error (exit 2) naming the option, never a stack
 * trace from deep inside (`--limit abc` reaching SQL as NaN, a NUL byte reaching Postgres, an
 * ESC sequence reaching a table). Options parsed to numbers or dates are checked as parsed; an
 * option or argument without a rule gets the default one, so a new command is covered.
 */
export function checkArguments(_program: Command, cmd: Command): void {
  const where = commandPath(cmd);
  for (const [key, value] of Object.entries(cmd.opts())) {
    const option = cmd.options.find((o) => o.attributeName() === key);
    check(RULES[key] ?? DEFAULT_RULE, value, option?.long ?? `--${key}`);
  }
  cmd.registeredArguments.forEach((arg, i) => {
    const rule = RULES_BY_COMMAND[`${where} ${arg.name()}`] ?? RULES[arg.name()] ?? DEFAULT_RULE;
    check(rule, cmd.processedArgs[i], `<${arg.name()}>`);
  });
}

function check(rule: Rule, value: unknown, name: string): void {
  if (value === undefined || typeof value === 'boolean' || value instanceof Date) return;
  for (const one of Array.isArray(value) ? value : [value]) {
    const why = rule(one);
    if (why)
      throw new BadInputError(`invalid ${name}${typeof one === 'string' ? ` ${shown(one)}` : ''}: ${why}`);
  }
}

/** A value as an error message may show it: short, on one line, escapes visible. */
function shown(s: string): string {
  const cut = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  return JSON.stringify(cut.toWellFormed());
}
