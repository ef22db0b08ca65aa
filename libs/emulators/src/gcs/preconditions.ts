import { HttpError } from './http.ts';
import type { StoredObject } from './resources.ts';

/** The generation preconditions of the JSON API; `ifGenerationMatch=0` is how write-once works. */
export interface Preconditions {
  ifGenerationMatch?: number;
  ifGenerationNotMatch?: number;
  ifMetagenerationMatch?: number;
  ifMetagenerationNotMatch?: number;
}

const NAMES = [
  'ifGenerationMatch',
  'ifGenerationNotMatch',
  'ifMetagenerationMatch',
  'ifMetagenerationNotMatch',
];

export function parsePreconditions(query: URLSearchParams): Preconditions {
  const out: Record<string, number> = {};
  for (const name of NAMES) {
    const raw = query.get(name);
    if (raw === null || raw === '') continue;
    if (!/^\d+$/.test(raw)) throw new HttpError(400, `Invalid value for ${name}: ${raw}`, 'invalidParameter');
    out[name] = Number(raw);
  }
  return out as Preconditions;
}

/** Throws 412 when a precondition does not hold for the object as it is now (`undefined` = absent). */
export function checkPreconditions(pre: Preconditions, current: StoredObject | undefined): void {
  const generation = current?.generation ?? 0;
  const failed =
    (pre.ifGenerationMatch !== undefined && pre.ifGenerationMatch !== generation) ||
    (pre.ifGenerationNotMatch !== undefined && pre.ifGenerationNotMatch === generation) ||
    (pre.ifMetagenerationMatch !== undefined && pre.ifMetagenerationMatch !== current?.metageneration) ||
    (pre.ifMetagenerationNotMatch !== undefined && pre.ifMetagenerationNotMatch === current?.metageneration);
  if (failed) {
    throw new HttpError(
      412,
      'At least one of the pre-conditions you specified did not hold.',
      'conditionNotMet',
    );
  }
}
