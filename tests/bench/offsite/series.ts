// O3 / O3b: a series of dailies on the real stack, the data changed before each day's backup, and
// restic backing up the same data beside it. The roles run on the system clock: a backup per
// simulated day, one after the other. Nothing expires within the run, and what is measured is what
// each target holds, so the days need no clock of their own. Each day is a manual backup
// (retention days_1, as bench:compare's runs), since a second daily the same UTC day is refused.

import { timedBackup } from '../compare/fleet-runs.ts';
import type { FleetStack } from '../compare/fleet-stack.ts';
import { added, type Holdings, holdings } from './objects.ts';
import * as restic from './restic.ts';
import type { DailyReadBack, SeriesFigures } from './targets.ts';

export interface SeriesPlan {
  what: string;
  changedPerDay: string;
  host: string;
  source: string;
  days: number;
  fullBytes: number;
  /** Changes the data for `day` (2…days) before that day's backups. */
  change(day: number): Promise<void>;
  /** restic's repository for this series (null: restic does not run). */
  resticRepo: restic.ResticRepo | null;
  log(line: string): void;
}

export async function runSeries(stack: FleetStack | null, plan: SeriesPlan): Promise<SeriesFigures> {
  const before = stack ? await readAll(stack) : {};
  const resticBefore = await plan.resticRepo?.holdings();
  const notVerified: string[] = [];
  const fleetSeconds: (number | null)[] = [];
  const readBack: DailyReadBack[] = [];
  for (let day = 1; day <= plan.days; day++) {
    if (day > 1) await plan.change(day);
    if (stack) {
      const [held, read] = [await readAll(stack), await bytesRead(stack)];
      const r = await timedBackup(stack, plan.host, [plan.source], `${plan.what}, day ${day}`);
      if (r.status !== 'verified') notVerified.push(`day ${day}: ${r.status} ${r.reason ?? ''}`.trim());
      fleetSeconds.push(r.status === 'verified' ? r.totalSeconds : null);
      // Day 1 uploads everything and reads it all back: the target is about the dailies after it.
      if (day > 1) {
        const [heldAfter, readAfter] = [await readAll(stack), await bytesRead(stack)];
        for (const t of Object.keys(heldAfter))
          readBack.push({
            day,
            target: t,
            read: (readAfter[t] ?? 0) - (read[t] ?? 0),
            added: added(held[t]!, heldAfter[t]!).bytes,
          });
      }
    }
    if (plan.resticRepo) await restic.backup(plan.resticRepo, plan.source);
    if (day % 5 === 0 || day === plan.days) plan.log(`  ${plan.what}: day ${day} of ${plan.days}`);
  }
  const after = stack ? await readAll(stack) : {};
  const stored = Object.fromEntries(Object.entries(after).map(([t, h]) => [t, added(before[t]!, h)]));
  const resticAfter = await plan.resticRepo?.holdings();
  return {
    what: plan.what,
    days: plan.days,
    fullBytes: plan.fullBytes,
    changedPerDay: plan.changedPerDay,
    notVerified,
    fleetSeconds,
    readBack,
    stored,
    restic: resticBefore && resticAfter ? added(resticBefore, resticAfter) : null,
  };
}

/** Bytes each target has been read back so far (verify and re-reads; the catalog's target_reads). */
async function bytesRead(stack: FleetStack): Promise<Record<string, number>> {
  const row = await stack.row<{ reads: Record<string, string> | null }>(
    'SELECT json_object_agg(target, total) AS reads FROM (SELECT target, sum(bytes) AS total FROM target_reads GROUP BY target) t',
    [],
  );
  return Object.fromEntries(Object.entries(row?.reads ?? {}).map(([t, n]) => [t, Number(n)]));
}

/** What each of the stack's targets holds now, by target name. */
export async function readAll(stack: FleetStack): Promise<Record<string, Holdings>> {
  const out: Record<string, Holdings> = {};
  for (const t of stack.standins) out[t.name] = await holdings(t);
  return out;
}
