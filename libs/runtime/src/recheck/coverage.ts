import { type CopyCoverage, RotFindings, recheckCoverage } from '@fleet-backup/db';
import type { Runtime } from '../runtime.ts';

const DAY_MS = 86_400_000;

/** How much of each copy kind's stored bytes was read back within the last re-check window. */
export interface RecheckCoverage {
  windowDays: number;
  since: string;
  copies: (CopyCoverage & { fraction: number })[];
}

/** Rot found within the last window: per copy, and the newest findings. */
export interface RotSummary {
  windowDays: number;
  counts: { copy: string; found: number; healed: number }[];
  recent: {
    foundAt: string;
    copy: string;
    host: string;
    backupId: string | null;
    object: string;
    problem: string;
    foundBy: string;
    healedAt: string | null;
    healedFrom: string | null;
  }[];
}

/** Fraction of bytes read back per copy since `now - recheckWindowDays` (1 when a copy holds nothing). */
export async function buildRecheckCoverage(rt: Runtime): Promise<RecheckCoverage> {
  const windowDays = rt.config.recheckWindowDays;
  const since = new Date(rt.clock.now().getTime() - windowDays * DAY_MS);
  const copies = (await recheckCoverage(rt.pool, since, rt.clock.now())).map((c) => ({
    ...c,
    fraction: c.bytes === 0 ? 1 : c.checkedBytes / c.bytes,
  }));
  return { windowDays, since: since.toISOString(), copies };
}

/** Rot found within the last window, healed or not (at most `limit` findings listed). */
export async function buildRotSummary(rt: Runtime, limit = 50): Promise<RotSummary> {
  const windowDays = rt.config.recheckWindowDays;
  const since = new Date(rt.clock.now().getTime() - windowDays * DAY_MS);
  const store = new RotFindings(rt.pool, rt.clock);
  const recent = (await store.since(since, limit)).map((f) => ({
    foundAt: f.foundAt.toISOString(),
    copy: f.copy,
    host: f.host,
    backupId: f.backupId,
    object: f.object,
    problem: f.problem,
    foundBy: f.foundBy,
    healedAt: f.healedAt?.toISOString() ?? null,
    healedFrom: f.healedFrom,
  }));
  return { windowDays, counts: await store.countsSince(since), recent };
}
