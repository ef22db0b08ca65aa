import { parseArgs } from 'node:util';
import { PEERS } from './peers.ts';

export interface CompareOptions {
  quick: boolean;
  json: string | null;
  /** Who runs: `fleet` and the peers. */
  only: Set<string>;
  largeBytes: number;
  smallFiles: number;
  seriesFiles: number;
  days: number;
  /** How long P6 waits for the pre-change's snapshot before calling it FAIL. */
  preChangeLimitSeconds: number;
  /** Run the production bundle (services/launcher/dist) instead of the sources. */
  bundle: boolean;
  /** No targets besides the local copy: quicker runs while working on the local data path. */
  localOnly: boolean;
}

export const RUNNERS = ['fleet', ...PEERS];

export const USAGE = `usage: node tests/bench/compare.ts [--quick] [--json FILE] [--only fleet,cp,rsync,restic,borg]
       [--mib N] [--files N] [--series-files N] [--days N] [--p6-limit SECONDS] [--bundle] [--local-only]
  full sizes: 1024 MiB file, 20000 small files, P5 tree of 2000 files over 30 days
  --quick:    64 MiB, 2000 files, P5 tree of 200 files over 5 days
  --local-only: no second disk, S3 or GCS target (a quicker loop; not the measure of record)`;

export function parseOptions(argv: string[]): CompareOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      only: { type: 'string' },
      mib: { type: 'string' },
      files: { type: 'string' },
      'series-files': { type: 'string' },
      days: { type: 'string' },
      'p6-limit': { type: 'string' },
      bundle: { type: 'boolean', default: false },
      'local-only': { type: 'boolean', default: false },
    },
  });
  const quick = values.quick === true;
  const only = new Set((values.only ?? RUNNERS.join(',')).split(',').map((s) => s.trim()));
  for (const name of only)
    if (!RUNNERS.includes(name))
      throw new Error(`--only: unknown runner "${name}" (one of ${RUNNERS.join(', ')})`);
  const days = count('--days', values.days, quick ? 5 : 30);
  if (days < 2) throw new Error('--days: at least 2 (a first backup and an unchanged re-run)');
  return {
    quick,
    json: values.json ?? null,
    only,
    largeBytes: count('--mib', values.mib, quick ? 64 : 1024) * 1024 * 1024,
    smallFiles: count('--files', values.files, quick ? 2000 : 20_000),
    seriesFiles: count('--series-files', values['series-files'], quick ? 200 : 2000),
    days,
    preChangeLimitSeconds: count('--p6-limit', values['p6-limit'], quick ? 120 : 900),
    bundle: values.bundle === true,
    localOnly: values['local-only'] === true,
  };
}

function count(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: a whole number ≥ 1, not "${text}"`);
  return n;
}
