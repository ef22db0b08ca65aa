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
import { commandPath, type FuzzCase, fuzzCase, HOST, runnable } from './fuzz-cli-cases.ts';
import { random } from './fuzz-support.ts';

const services = await serviceUrls();
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const CASES = Number(process.env.FUZZ_CLI_CASES ?? 1_500);
const PROCESS_SAMPLE = Number(process.env.FUZZ_CLI_PROCESSES ?? 12);
// Long-running roles: run only as real processes, where a missed refusal is a process to kill, not a hung test.
const SERVE = new Set(['start', 'producer', 'worker', 'agent']);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
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
