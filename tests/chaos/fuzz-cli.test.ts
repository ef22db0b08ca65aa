import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { format } from 'node:util';
import { buildProgram, main } from '@fleet-backup/cli';
import { loadConfig } from '@fleet-backup/config';
import { TokenStore } from '@fleet-backup/db';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { CRAFTED_STRINGS, type Random, random, randomString } from './fuzz-support.ts';

// commander's types as the CLI's own commander version declares them.
type Command = ReturnType<typeof buildProgram>;
type Option = Command['options'][number];

const services = await serviceUrls();
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const CASES = Number(process.env.FUZZ_CLI_CASES ?? 1_500);
const PROCESS_SAMPLE = Number(process.env.FUZZ_CLI_PROCESSES ?? 12);
const HOST = 'fz-01';
// Long-running roles: run only as real processes, where a missed refusal is a process to kill, not a hung test.
const SERVE = new Set(['start', 'producer', 'worker', 'agent']);

interface FuzzCase {
  argv: string[];
  what: string[];
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** A plausible value for an option or argument, so that the one bad element is what fails. */
function plausible(name: string, ctx: { dir: string; id: string; key: string }): string {
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
  const unprintable = CRAFTED_STRINGS.filter((s) => /[\p{Cc}\p{Cs}]/u.test(s));
  return r.chance(0.15)
    ? 'é'.repeat(r.pick([5_000, 120_000]))
    : r.pick([...unprintable, `x${String.fromCharCode(0xd800)}`]);
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** `tokens create` for the command `create` under `tokens`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command that runs something (groups without an action only print their help). */
function runnable(program: Command): Command[] {
  return allCommands(program).filter((c) => (c as unknown as { _actionHandler: unknown })._actionHandler);
}

function fuzzCase(r: Random, cmd: Command, ctx: { dir: string; id: string; key: string }): FuzzCase {
  const words = commandPath(cmd).split(' ');
  const args = cmd.registeredArguments.map((a) => ({ name: a.name(), required: a.required }));
  const mandatory = cmd.options.filter((o) => o.mandatory);
  const valued = cmd.options.filter(takesValue);
  const what: string[] = [];
  let positional = args
    .filter((a) => a.required || r.chance(0.5))
    .map((a) => ({ ...a, value: plausible(a.name, ctx) }));
  let options = mandatory.map((o) => ({ o, value: plausible(attr(o), ctx) }));
  // Some optional options with plausible (or odd but valid) values, as noise around the bad element.
  for (const o of cmd.options.filter((x) => !x.mandatory)) {
    if (!r.chance(0.25)) continue;
    const odd = r.chance(0.2) ? r.pick(['🙂', 'Ωmega', 'ｆｕｌｌ']) : null;
    options.push({
      o,
      value: takesValue(o)
        ? odd && ['description', 'purpose', 'notes'].includes(attr(o))
          ? odd
          : plausible(attr(o), ctx)
        : '',
    });
  }
  const mutations = [
    'unknown flag',
    'missing value',
    'bad value',
    'no mandatory',
    'no argument',
    'excess argument',
    'bad argument',
    'huge argument',
  ];
  const feasible = mutations.filter(
    (m) =>
      (m !== 'missing value' || valued.length) &&
      (m !== 'bad value' || valued.length) &&
      (m !== 'no mandatory' || mandatory.length) &&
      (m !== 'no argument' || args.some((a) => a.required)) &&
      (m !== 'bad argument' || args.length) &&
      (m !== 'huge argument' || args.length) &&
      (m !== 'excess argument' || !args.some((a) => a.name.endsWith('...'))),
  );
  const mutation = r.pick(feasible);
  what.push(mutation);
  let trailing: string[] = [];
  switch (mutation) {
    case 'unknown flag':
      trailing = [
        r.pick([`--no-such-${randomString(r, 6).replace(/[^a-z]/gi, '') || 'x'}`, '-Z', '--jsonn', '--HOST']),
      ];
      break;
    case 'missing value': {
      const o = r.pick(valued);
      options = options.filter((x) => x.o !== o);
      trailing = [o.long!];
      what.push(o.long!);
      break;
    }
    case 'bad value': {
      const o = r.pick(valued);
      options = options.filter((x) => x.o !== o);
      options.push({ o, value: badValue(r, attr(o)) });
      what.push(o.long!);
      break;
    }
    case 'no mandatory': {
      const o = r.pick(mandatory);
      options = options.filter((x) => x.o !== o);
      what.push(o.long!);
      break;
    }
    case 'no argument':
      positional = positional.filter((a) => !a.required);
      break;
    case 'excess argument':
      positional = [
        ...args.map((a) => ({ ...a, value: plausible(a.name, ctx) })),
        { name: 'extra', required: false, value: 'extra' },
      ];
      break;
    case 'bad argument': {
      const i = r.int(args.length);
      positional = args.map((a, j) => ({
        ...a,
        value: j === i ? badValue(r, a.name) : plausible(a.name, ctx),
      }));
      what.push(`<${args[i]!.name}>`);
      break;
    }
    case 'huge argument': {
      const i = r.int(args.length);
      positional = args.map((a, j) => ({
        ...a,
        value: j === i ? 'x\u0000'.repeat(60_000) : plausible(a.name, ctx),
      }));
      break;
    }
  }
  const optionArgv = options.flatMap(({ o, value }) => (takesValue(o) ? [o.long!, value] : [o.long!]));
  // Options after a positional value that starts with '-' would read as flags: arguments first, after the words.
  return { argv: [...words, ...positional.map((p) => p.value), ...optionArgv, ...trailing], what };
}

/** Runs the CLI in this process, capturing what it writes. */
async function inProcess(argv: string[]): Promise<Outcome> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = {
    out: process.stdout.write,
    err: process.stderr.write,
    log: console.log,
    error: console.error,
  };
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array) => into.push(String(chunk)) > 0) as typeof process.stdout.write;
  Object.assign(process.stdout, { write: capture(out) });
  Object.assign(process.stderr, { write: capture(err) });
  // The test runner gives console streams of its own: catch console.log and console.error too.
  Object.assign(console, {
    log: (...args: unknown[]) => void out.push(`${format(...args)}\n`),
    error: (...args: unknown[]) => void err.push(`${format(...args)}\n`),
  });
  try {
    const code = await main(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    Object.assign(process.stdout, { write: saved.out });
    Object.assign(process.stderr, { write: saved.err });
    Object.assign(console, { log: saved.log, error: saved.error });
  }
}

/** What is wrong with an outcome for invalid input, or null. */
function violation(o: Outcome): string | null {
  if (o.code !== 2 && o.code !== 3) return `exit ${o.code}`;
  const lines = o.stderr.trimEnd().split('\n');
  if (!/^(error: |fleet-backup: )\S/.test(lines[0] ?? ''))
    return `first stderr line is not a message: ${JSON.stringify(lines[0])}`;
  // The message, then at most the usage hints commander adds ("(Did you mean …?)", "(run … --help …)").
  const extra = lines.slice(1).filter((l) => !/^\(.*\)$/.test(l));
  if (extra.length)
    return `stderr has more than one message line (a stack trace?): ${JSON.stringify(extra.slice(0, 3))}`;
  if (o.stdout !== '') return `wrote to stdout: ${JSON.stringify(o.stdout.slice(0, 100))}`;
  return null;
}

describe.skipIf(!services)('fuzz: every CLI command and option (issue 10)', () => {
  let iso: Isolated;
  let rt: Runtime;
  let env: Record<string, string>;
  const ctx = { dir: '', id: '', key: '' };
  let tables: string[] = [];
  let cwd = '';

  /** A digest of every row of every table: an invalid command must leave it unchanged. */
  async function fingerprint(): Promise<string> {
    const parts = tables.map(
      (t) =>
        `SELECT '${t}' AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM "${t}" x`,
    );
    const rows = await rt.pool.query<{ t: string; h: string }>(parts.join(' UNION ALL '));
    return rows.rows
      .map((r) => `${r.t}:${r.h}`)
      .sort()
      .join(',');
  }

  beforeAll(async () => {
    iso = await isolate(services!, 'fuzz-cli');
    ctx.dir = await mkdtemp(path.join(iso.dir, 'cli-'));
    // A relative --out or --to that slipped through lands here, not in the checkout (and the real processes inherit it).
    cwd = process.cwd();
    process.chdir(ctx.dir);
    env = {
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
      LOG_LEVEL: 'fatal',
    };
    Object.assign(process.env, env);
    rt = await openRuntime({ ...loadConfig(env), targets: [] }, { name: 'fuzz-cli' });
    await rt.hosts.touch(HOST);
    const { backup } = await rt.backups.create({
      request: {
        host: HOST,
        kind: 'pre_change',
        paths: ['/srv/fz'],
        description: 'seeded',
        ticket: 'CHG-FZ',
      },
      targets: [],
      dailyRetentionDays: 30,
    });
    Object.assign(ctx, { id: backup.id, key: backup.key });
    await new TokenStore(rt.pool, rt.clock).create({ name: 'fz-token', scope: 'read' });
    const listed = await rt.pool.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    tables = listed.rows.map((r) => r.table_name);
  });
  afterAll(async () => {
    if (cwd) process.chdir(cwd);
    await rt?.close();
    await iso?.cleanup();
  });

  it('answers bad values, missing values, unknown flags, odd unicode and huge arguments with exit 2 or 3 and one message; writes nothing', async () => {
    const program = buildProgram();
    const commands = runnable(program);
    const inProcessCommands = commands.filter((c) => !SERVE.has(commandPath(c).split(' ')[0]!));
    const optionCount = commands.reduce((n, c) => n + c.options.length, 0);
    expect(inProcessCommands.length).toBeGreaterThan(15);
    const r = random(SEED);
    const before = await fingerprint();
    const failures: string[] = [];
    const codes: Record<number, number> = {};
    const cases: FuzzCase[] = [];
    for (let i = 0; i < CASES; i++) {
      const c = fuzzCase(r, r.pick(inProcessCommands), ctx);
      cases.push(c);
      const outcome = await inProcess(c.argv);
      codes[outcome.code] = (codes[outcome.code] ?? 0) + 1;
      const why = violation(outcome);
      if (why)
        failures.push(
          `${why}: fleet-backup ${JSON.stringify(c.argv).slice(0, 300)} [${c.what.join(' ')}]\n${outcome.stderr.slice(0, 400)}`,
        );
    }
    const afterInProcess = await fingerprint();

    // A sample as real processes (argv cannot carry a NUL, nor a lone surrogate unchanged), and the roles.
    const portable = cases.filter((c) =>
      c.argv.every((a) => !a.includes('\u0000') && a.isWellFormed() && a.length < 100_000),
    );
    const sample = Array.from({ length: PROCESS_SAMPLE }, () => r.pick(portable).argv);
    sample.push(
      ['worker', '--concurrency', 'abc'],
      ['worker', '--concurrency', '0'],
      ['agent', '--host', 'bad host'],
      ['agent', '--host'],
      ['producer', '--bogus'],
      ['start', 'extra'],
      ['expire', '--dry-run', '--at', '2026-02-30T00:00:00Z'],
      ['list', '--limit', '12abc'],
    );
    let processes = 0;
    for (let i = 0; i < sample.length; i += 3) {
      const batch = sample.slice(i, i + 3);
      const runs = await Promise.all(batch.map((argv) => runCli(argv, env, 60_000)));
      runs.forEach((run, j) => {
        processes++;
        const outcome = { code: run.code ?? -1, stdout: run.stdout, stderr: run.stderr };
        codes[outcome.code] = (codes[outcome.code] ?? 0) + 1;
        const why = violation(outcome);
        if (why)
          failures.push(
            `${why} (real process): fleet-backup ${JSON.stringify(batch[j]).slice(0, 300)}\n${run.stderr.slice(0, 400)}`,
          );
      });
    }
    const after = await fingerprint();
    console.log(
      `fuzz-cli verdict: ${failures.length || after !== before ? 'FAIL' : 'ok'}: ${CASES} in-process cases and ${processes} real processes over ${commands.length} commands and ${optionCount} options, seed ${SEED}; ` +
        `exit codes ${JSON.stringify(codes)}; ${failures.length} violations; database ${after === before ? 'unchanged' : 'CHANGED'}`,
    );
    expect(failures.slice(0, 15)).toEqual([]);
    expect(afterInProcess).toBe(before);
    expect(after).toBe(before);
  }, 600_000);
});
