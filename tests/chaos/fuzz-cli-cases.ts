import path from 'node:path';
import type { buildProgram } from '@fleet-backup/cli';
import { unprintable } from '@fleet-backup/core';
import { CRAFTED_STRINGS, type Random, randomString } from './fuzz-support.ts';

/**
 * Invalid command lines for the CLI fuzzer, generated from the commander program itself: each
 * takes a command's arguments and mandatory options with plausible values, adds some optional
 * ones as noise, then breaks exactly one thing (an unknown flag, a missing or bad value, a
 * missing or extra argument, a huge one), so every case must be refused.
 */

// commander's types as the CLI's own commander version declares them.
export type Command = ReturnType<typeof buildProgram>;
type Option = Command['options'][number];

export const HOST = 'fz-01';

/** Where plausible values point: a scratch directory, and a backup that exists. */
export interface CaseContext {
  dir: string;
  id: string;
  key: string;
}

export interface FuzzCase {
  argv: string[];
  what: string[];
}

/** A plausible value for an option or argument, so that the one bad element is what fails. */
function plausible(name: string, ctx: CaseContext): string {
  const values: Record<string, string> = {
    host: HOST,
    kind: 'manual',
    path: '/srv/fz',
    pathPrefix: '/srv/fz',
    purpose: 'fuzz',
    description: 'fuzz',
    to: path.join(ctx.dir, 'restore'),
    out: path.join(ctx.dir, 'out.json'),
    file: '/srv/fz/a.txt',
    name: 'fz-name',
    scope: 'read',
    reason: 'it broke',
    by: 'alice',
    ticket: 'CHG-FZ',
    id: ctx.id,
    key: ctx.key,
    backup: ctx.key,
    idOrName: 'fz-token',
    limit: '5',
    concurrency: '2',
    timeout: '1',
    at: '2026-06-01T03:00:00Z',
    from: 'auto',
    retention: 'days_7',
  };
  return values[name] ?? 'x';
}

const attr = (o: Option) => o.attributeName();
const takesValue = (o: Option) => o.required || o.optional;

/** Values no option or argument takes: every one must be refused (exit 2) or found missing (exit 3). */
function badValue(r: Random, name: string): string {
  const numeric = ['limit', 'concurrency', 'timeout'];
  if (numeric.includes(name))
    return r.pick(['abc', '-1', '1e3', '0x10', '99999999999', '', ' 5', '12abc', 'NaN']);
  if (name === 'at')
    return r.pick(['yesterday', '2026-13-45T00:00:00Z', '2026-02-30T00:00:00Z', '', '1780000000']);
  if (name === 'host') return r.pick(['bad host', 'x/y', '..', 'a'.repeat(64), '', '-x', '🙂', 'h\u0000']);
  if (name === 'file') return r.pick(['a\u0000b', `/${'x'.repeat(5_000)}`]);
  // Free text may hold newlines and tabs: only the other control characters are bad there.
  const multiline = name === 'reason' || name === 'notes';
  const refused = CRAFTED_STRINGS.filter((s) => unprintable(s, { multiline }) !== null);
  return r.chance(0.15)
    ? 'é'.repeat(r.pick([5_000, 120_000]))
    : r.pick([...refused, `x${String.fromCharCode(0xd800)}`]);
}

export function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** `tokens create` for the command `create` under `tokens`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command that runs something (groups without an action only print their help). */
export function runnable(program: Command): Command[] {
  return allCommands(program).filter((c) => (c as unknown as { _actionHandler: unknown })._actionHandler);
}

interface Draft {
  positional: { name: string; required: boolean; value: string }[];
  options: { o: Option; value: string }[];
  trailing: string[];
  what: string[];
}

const MUTATIONS = [
  'unknown flag',
  'missing value',
  'bad value',
  'no mandatory',
  'no argument',
  'excess argument',
  'bad argument',
  'huge argument',
] as const;
type Mutation = (typeof MUTATIONS)[number];

/** One invalid command line for the command: a plausible one with exactly one thing broken. */
export function fuzzCase(r: Random, cmd: Command, ctx: CaseContext): FuzzCase {
  const draft = plausibleDraft(r, cmd, ctx);
  const mutation = r.pick(MUTATIONS.filter((m) => feasible(m, cmd)));
  draft.what.push(mutation);
  breakOne(r, mutation, cmd, ctx, draft);
  const optionArgv = draft.options.flatMap(({ o, value }) => (takesValue(o) ? [o.long!, value] : [o.long!]));
  const words = commandPath(cmd).split(' ');
  return {
    argv: [...words, ...draft.positional.map((p) => p.value), ...optionArgv, ...draft.trailing],
    what: draft.what,
  };
}

/** The command's arguments and mandatory options, plausible; some optional ones as noise (odd but valid unicode too). */
function plausibleDraft(r: Random, cmd: Command, ctx: CaseContext): Draft {
  const positional = cmd.registeredArguments
    .filter((a) => a.required || r.chance(0.5))
    .map((a) => ({ name: a.name(), required: a.required, value: plausible(a.name(), ctx) }));
  const options = cmd.options.filter((o) => o.mandatory).map((o) => ({ o, value: plausible(attr(o), ctx) }));
  for (const o of cmd.options.filter((x) => !x.mandatory)) {
    if (!r.chance(0.25)) continue;
    const odd = ['description', 'purpose', 'notes'].includes(attr(o)) && r.chance(0.2);
    const value = odd ? r.pick(['🙂', 'Ωmega', 'ｆｕｌｌ']) : plausible(attr(o), ctx);
    options.push({ o, value: takesValue(o) ? value : '' });
  }
  return { positional, options, trailing: [], what: [] };
}

function feasible(m: Mutation, cmd: Command): boolean {
  const args = cmd.registeredArguments;
  if (m === 'missing value' || m === 'bad value') return cmd.options.some(takesValue);
  if (m === 'no mandatory') return cmd.options.some((o) => o.mandatory);
  if (m === 'no argument') return args.some((a) => a.required);
  if (m === 'bad argument' || m === 'huge argument') return args.length > 0;
  if (m === 'excess argument') return !args.some((a) => a.variadic);
  return true;
}

function breakOne(r: Random, m: Mutation, cmd: Command, ctx: CaseContext, d: Draft): void {
  const args = cmd.registeredArguments.map((a) => ({ name: a.name(), required: a.required }));
  const withArgs = (bad: (name: string) => string) => {
    const i = r.int(args.length);
    d.positional = args.map((a, j) => ({ ...a, value: j === i ? bad(a.name) : plausible(a.name, ctx) }));
    d.what.push(`<${args[i]!.name}>`);
  };
  const dropOption = (o: Option) => {
    d.options = d.options.filter((x) => x.o !== o);
    d.what.push(o.long!);
  };
  if (m === 'unknown flag') {
    const flag = `--no-such-${randomString(r, 6).replace(/[^a-z]/gi, '') || 'x'}`;
    d.trailing = [r.pick([flag, '-Z', '--jsonn', '--HOST'])];
  } else if (m === 'missing value') {
    const o = r.pick(cmd.options.filter(takesValue));
    dropOption(o);
    d.trailing = [o.long!];
  } else if (m === 'bad value') {
    const o = r.pick(cmd.options.filter(takesValue));
    dropOption(o);
    d.options.push({ o, value: badValue(r, attr(o)) });
  } else if (m === 'no mandatory') {
    dropOption(r.pick(cmd.options.filter((o) => o.mandatory)));
  } else if (m === 'no argument') {
    d.positional = d.positional.filter((a) => !a.required);
  } else if (m === 'excess argument') {
    d.positional = [
      ...args.map((a) => ({ ...a, value: plausible(a.name, ctx) })),
      { name: 'extra', required: false, value: 'extra' },
    ];
  } else if (m === 'bad argument') {
    withArgs((name) => badValue(r, name));
  } else {
    // Printable but far past any limit: 120,000 bytes, still under the kernel's 128 KiB per argument.
    withArgs(() => (r.chance(0.5) ? 'é'.repeat(60_000) : 'x\u0000'.repeat(60_000)));
  }
}
