import { type BackupKind, RETENTION_RULES } from './kinds.ts';
import { isKept } from './lifecycle.ts';
import type { BackupStatus } from './status.ts';

const DAY_MS = 86_400_000;

/** An installation's retention choices beyond what each backup carries. */
export interface RetentionPolicy {
  /**
   * Days after its change is verified that an `until_verified` pre_change retires by itself.
   * Null (the default): never by itself; cleanup is a person's decision, as the seed says.
   */
  autoRetireDays: number | null;
}

/** What retention needs to know about one backup. */
export interface RetentionFacts {
  id: string;
  host: string;
  kind: BackupKind;
  key: string;
  status: BackupStatus;
  created: Date;
  /** A daily's expiry, fixed at creation. */
  expires: Date | null;
  /** `days_N`, `permanent` or `until_verified`; null means the kind's default. */
  retention: string | null;
  lifecycle: string | null;
  /** The change ticket of a pre_change backup. */
  ticket: string | null;
  /** When the change a pre_change backup protects was reported verified; null until then. */
  changeVerifiedAt: Date | null;
  /** A stage is running: copies are still being written, so nothing may be removed yet. */
  inFlight: boolean;
}

export interface RetentionVerdict {
  facts: RetentionFacts;
  /** Keep it, or remove it: dailies and manual backups expire, pre_change ones retire. */
  action: 'keep' | 'expire' | 'retire';
  /** For people: the rule that applies and, when it stays past its due date, what protects it. */
  reason: string;
  /** When its retention ends; null when it never ends by itself. */
  dueAt: Date | null;
  /** A verified `until_verified` pre_change waiting for a person to retire it. */
  readyForCleanup: boolean;
}

interface Due {
  at: Date | null;
  rule: string;
  readyForCleanup?: boolean;
}

/**
 * Which backups go at `now`, and why each one stays otherwise. Only kept backups are judged (the
 * ones already going or gone are left out). Never removed, whatever their age: permanent
 * backups, a pre_change whose change is not verified, a backup whose pipeline is still running,
 * and the newest verified daily of each host, so a host that stopped backing up keeps its last
 * good copy. Pure: time comes in as `now`.
 */
export function retentionVerdicts(
  facts: RetentionFacts[],
  policy: RetentionPolicy,
  now: Date,
): RetentionVerdict[] {
  const kept = facts.filter((f) => isKept(f.lifecycle));
  const lastGood = newestVerifiedDailies(kept);
  return kept.map((f) => verdict(f, policy, now, lastGood.has(f.id)));
}

function verdict(f: RetentionFacts, policy: RetentionPolicy, now: Date, lastGood: boolean): RetentionVerdict {
  const due = dueDate(f, policy);
  const base = { facts: f, dueAt: due.at, readyForCleanup: due.readyForCleanup ?? false };
  const keep = (reason: string): RetentionVerdict => ({ ...base, action: 'keep', reason });
  if (due.at === null || due.at.getTime() > now.getTime()) return keep(due.rule);
  if (lastGood) return keep(`${due.rule}; kept: the newest verified daily of ${f.host}`);
  if (f.inFlight) return keep(`${due.rule}; kept until its pipeline stops running`);
  return { ...base, action: f.kind === 'pre_change' ? 'retire' : 'expire', reason: due.rule };
}

/** When the backup's own retention ends, and the rule in words. */
function dueDate(f: RetentionFacts, policy: RetentionPolicy): Due {
  if (f.kind === 'daily') {
    const at = f.expires ?? f.created;
    return { at, rule: `daily, expires ${at.toISOString()}` };
  }
  const retention = f.retention ?? RETENTION_RULES[f.kind].fallback ?? 'permanent';
  if (retention === 'permanent') return { at: null, rule: `${f.kind} permanent: never expires` };
  const days = /^days_(\d+)$/.exec(retention)?.[1];
  if (f.kind === 'manual') {
    if (days === undefined) return { at: null, rule: `manual ${retention}: never expires` };
    const at = plusDays(f.created, Number(days));
    return { at, rule: `manual ${retention}, expires ${at.toISOString()}` };
  }
  if (f.changeVerifiedAt === null) {
    return { at: null, rule: `pre_change ${retention}: change ${f.ticket ?? '(no ticket)'} not verified` };
  }
  const verified = f.changeVerifiedAt.toISOString();
  if (days !== undefined) {
    const byAge = plusDays(f.created, Number(days));
    const at = byAge.getTime() > f.changeVerifiedAt.getTime() ? byAge : f.changeVerifiedAt;
    return { at, rule: `pre_change ${retention}, change verified ${verified}, retires ${at.toISOString()}` };
  }
  if (policy.autoRetireDays === null) {
    return {
      at: null,
      rule: `pre_change ${retention}, change verified ${verified}: ready for cleanup (fleet-backup retire ${f.key})`,
      readyForCleanup: true,
    };
  }
  const at = plusDays(f.changeVerifiedAt, policy.autoRetireDays);
  return {
    at,
    rule: `pre_change ${retention}, change verified ${verified}, retires automatically ${at.toISOString()}`,
  };
}

/** Per host, the kept daily that verified last (by creation): the host's last good copy. */
function newestVerifiedDailies(facts: RetentionFacts[]): Set<string> {
  const newest = new Map<string, RetentionFacts>();
  for (const f of facts) {
    if (f.kind !== 'daily' || f.status !== 'verified') continue;
    const current = newest.get(f.host);
    if (!current || f.created.getTime() > current.created.getTime()) newest.set(f.host, f);
  }
  return new Set([...newest.values()].map((f) => f.id));
}

function plusDays(at: Date, days: number): Date {
  return new Date(at.getTime() + days * DAY_MS);
}
