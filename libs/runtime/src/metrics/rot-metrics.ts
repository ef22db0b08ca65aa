import { type CopyCoverage, type RotCount, RotFindings, recheckCoverage } from '@fleet-backup/db';
import type { Runtime } from '../runtime.ts';

const DAY_MS = 86_400_000;

/** What the rot series show: re-read coverage over the window, rot found in the last day. */
export interface RotSnapshot {
  coverage: CopyCoverage[];
  found: RotCount[];
}

export async function readRotSnapshot(rt: Runtime): Promise<RotSnapshot> {
  const now = rt.clock.now().getTime();
  const since = new Date(now - rt.config.recheckWindowDays * DAY_MS);
  return {
    coverage: await recheckCoverage(rt.pool, since, rt.clock.now()),
    found: await new RotFindings(rt.pool, rt.clock).countsSince(new Date(now - DAY_MS)),
  };
}
