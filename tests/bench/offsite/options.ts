import { parseArgs } from 'node:util';

/** The works of issue 12's table; O5 (peak RSS) is read over whichever of them ran. */
export const WORKS = ['O1', 'O2', 'O3', 'O3b', 'O4'] as const;
export type Work = (typeof WORKS)[number];
/**
 * Who runs: fleet-backup and its peers (restic against a local repository, and against s3rver), and
 * the floor: bare SDK transfers of the large file to and from the cloud stand-ins.
 */
export const RUNNERS = ['fleet', 'cp', 'restic', 'restic-s3', 'floor'] as const;
export type Runner = (typeof RUNNERS)[number];

export interface OffsiteOptions {
  json: string | null;
  works: Set<Work>;
  runners: Set<Runner>;
  files: number;
  largeBytes: number;
  seriesFiles: number;
  days: number;
  dbBytes: number;
  /** Run the production bundle (services/launcher/dist) instead of the sources. */
  bundle: boolean;
}

export const USAGE = `usage: node tests/bench/offsite.ts [--quick] [--json FILE] [--only O1,O2,O3,O3b,O4,fleet,cp,restic,restic-s3,floor]
       [--files N] [--large-mib N] [--series-files N] [--days N] [--db-mib N] [--bundle]
  full sizes: 20000 small files, a 1024 MiB file, O3 tree of 2000 files and O3b database of 1024 MiB over 30 days
  --quick:    2000 files, 64 MiB, O3 tree of 200 files and O3b database of 16 MiB over 5 days
  --only:     works and runners; a list without works runs every work, one without runners every runner
              (O4 restores O1's and O2's backups, so they run with it; floor needs fleet's stand-ins and O2 or O4)`;

export function parseOptions(argv: string[]): OffsiteOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      only: { type: 'string' },
      files: { type: 'string' },
      'large-mib': { type: 'string' },
      'series-files': { type: 'string' },
      days: { type: 'string' },
      'db-mib': { type: 'string' },
      bundle: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick === true;
  const names = values.only === undefined ? [] : values.only.split(',').map((s) => s.trim());
  const works = new Set<Work>();
  const runners = new Set<Runner>();
  for (const name of names) {
    if ((WORKS as readonly string[]).includes(name)) works.add(name as Work);
    else if ((RUNNERS as readonly string[]).includes(name)) runners.add(name as Runner);
    else
      throw new Error(
        `--only: unknown work or runner "${name}" (one of ${[...WORKS, ...RUNNERS].join(', ')})`,
      );
  }
  const days = count('--days', values.days, quick ? 5 : 30);
  if (days < 2) throw new Error('--days: at least 2 (a first backup and one daily after it)');
  return {
    json: values.json ?? null,
    works: works.size ? works : new Set(WORKS),
    runners: runners.size ? runners : new Set(RUNNERS),
    files: count('--files', values.files, quick ? 2000 : 20_000),
    largeBytes: count('--large-mib', values['large-mib'], quick ? 64 : 1024) * 1024 * 1024,
    seriesFiles: count('--series-files', values['series-files'], quick ? 200 : 2000),
    days,
    dbBytes: count('--db-mib', values['db-mib'], quick ? 16 : 1024) * 1024 * 1024,
    bundle: values.bundle === true,
  };
}

function count(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: a whole number ≥ 1, not "${text}"`);
  return n;
}
