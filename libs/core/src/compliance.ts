import type { CopyStatus } from './status.ts';

/**
 * Storage media for 3-2-1: the source and fs targets are disks; S3 and GCS are object storage.
 * Two object stores count as one kind (they fail in the same ways), as two disks do.
 */
export function mediumOf(kind: string): 'disk' | 'object storage' {
  return kind === 's3' || kind === 'gcs' ? 'object storage' : 'disk';
}

export interface Compliance {
  ok: boolean;
  /** The source plus each verified copy. */
  copies: number;
  kinds: number;
  offsite: number;
  /** What keeps it from 3-2-1, for people: empty when ok. */
  missing: string[];
  summary: string;
}

export interface CopyState {
  target: string;
  kind: string;
  offsite: boolean;
  status: CopyStatus;
  /** The copy's stage error, if any (e.g. a target that is down). */
  error?: string | null;
}

/** The 3-2-1 rule over a backup's copies: 3 copies, 2 kinds of storage, 1 offsite, counting only verified copies. */
export function compliance321(copies: CopyState[]): Compliance {
  const verified = copies.filter((c) => c.status === 'verified');
  const count = 1 + verified.length;
  const media = new Set(['disk', ...verified.map((c) => mediumOf(c.kind))]);
  const offsite = verified.filter((c) => c.offsite).length;
  const missing: string[] = [];
  if (count < 3) missing.push(`needs 3 copies, has ${count}`);
  if (media.size < 2) missing.push(`needs 2 kinds of storage, has ${media.size} (${[...media].join(', ')})`);
  if (offsite < 1) missing.push('needs 1 verified offsite copy, has 0');
  if (missing.length) {
    for (const c of copies.filter((c) => c.status !== 'verified')) {
      missing.push(`copy ${c.target} is ${c.status}${c.error ? `: ${c.error}` : ''}`);
    }
  }
  const ok = count >= 3 && media.size >= 2 && offsite >= 1;
  const figures = `${count} copies, ${media.size} kind${media.size === 1 ? '' : 's'}, ${offsite} offsite`;
  return {
    ok,
    copies: count,
    kinds: media.size,
    offsite,
    missing,
    summary: ok ? `3-2-1: yes (${figures})` : `3-2-1: no (${figures}): ${missing.join('; ')}`,
  };
}
