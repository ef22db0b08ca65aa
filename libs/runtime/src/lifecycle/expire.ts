import { LOCAL_COPY, type RetentionFacts, type RetentionPolicy, retentionVerdicts } from '@fleet-backup/core';
import { ADVISORY_LOCKS, bytesFreed, type EndingBackup, withAdvisoryLock } from '@fleet-backup/db';
import type { Runtime } from '../runtime.ts';
import {
  advanceRemoval,
  lifecycleStore,
  type RemovalProgress,
  removalProgress,
  waitUntilEnded,
} from './removal.ts';

// Serialises expire runs across processes (scheduled job, CLI, several workers).
const EXPIRE_LOCK = ADVISORY_LOCKS.expireRun;

/** One backup an expire run removes. */
export interface ExpireItem {
  id: string;
  host: string;
  kind: string;
  key: string;
  /** expire or retire: newly past its retention; finish: marked by an earlier run that did not end it. */
  action: 'expire' | 'retire' | 'finish';
  reason: string;
  /** Size of its local directory. */
  localBytes: number;
}

export interface ExpireReport {
  at: string;
  dryRun: boolean;
  backups: ExpireItem[];
  /** `local` first (every local directory removed), then each target (blobs gc may then delete). */
  bytesFreed: { target: string; blobs: number | null; bytes: number }[];
  /** After a real run: where each backup's removal stands. */
  results: RemovalProgress[];
  /** Removals that failed this time (a target down); the next run retries them. */
  errors: string[];
}

export interface ExpireOptions {
  dryRun?: boolean;
  /** How long to wait for the agents to remove the local copies before returning. */
  waitMs?: number;
}

interface Plan {
  report: ExpireReport;
  now: Date;
  /** Facts of every kept backup, by host: the context each re-check is judged in. */
  byHost: Map<string, RetentionFacts[]>;
}

/**
 * Removes every backup past its retention (retentionVerdicts): marks each one expiring or
 * retiring in Postgres first, then has its copies removed (advanceRemoval), and also finishes
 * backups an earlier, interrupted run marked. A dry run reports the same list and changes nothing.
 */
export async function runExpire(rt: Runtime, opts: ExpireOptions = {}): Promise<ExpireReport> {
  if (opts.dryRun) return (await plan(rt)).report;
  // The lock lives as long as its connection: when that is lost, `lost` stops the run between
  // steps and the run rejects (ConnectionLostError), to be retried, rather than go on unlocked.
  return withAdvisoryLock(rt.pool, EXPIRE_LOCK, 'the expire run (its lock)', async (_lock, lost) => {
    const { report, now, byHost } = await plan(rt);
    report.dryRun = false;
    const store = lifecycleStore(rt);
    let marked = 0;
    const ids: string[] = [];
    for (const item of report.backups) {
      lost.throwIfAborted();
      if (item.action === 'finish') {
        ids.push(item.id);
        continue;
      }
      const ending = item.action === 'retire' ? 'retiring' : 'expiring';
      const check = (fresh: RetentionFacts) => refusal(rt, fresh, byHost.get(fresh.host) ?? [], now);
      const result = await store.mark(item.id, ending, item.reason, { check });
      if (result.marked) marked++;
      // Refused on a second look: it stays, untouched. Marked meanwhile by someone else: carry it on.
      if (result.marked || result.refusal === null) ids.push(item.id);
      else rt.log.info({ backupId: item.id, why: result.refusal }, 'expire: kept after all');
    }
    report.backups = report.backups.filter((b) => ids.includes(b.id));
    rt.log.info({ marked, unfinished: ids.length - marked }, 'expire: backups marked');
    for (const item of report.backups) {
      lost.throwIfAborted();
      await advanceRemoval(rt, item);
    }
    if (opts.waitMs) await waitUntilEnded(rt, ids, opts.waitMs);
    for (const id of ids) report.results.push(await removalProgress(rt, id));
    report.errors = report.results.flatMap((r) =>
      r.pending.filter((p) => p.error).map((p) => `${r.host}/${r.key} on ${p.copy}: ${p.error}`),
    );
    return report;
  });
}

/** What a run at the runtime's `now` removes, with the bytes it frees, without changing anything. */
async function plan(rt: Runtime): Promise<Plan> {
  const now = rt.clock.now();
  const store = lifecycleStore(rt);
  const facts = await store.retentionFacts();
  const going = retentionVerdicts(facts, policy(rt), now).filter((v) => v.action !== 'keep');
  const unfinished = await store.ending();
  const freed = await bytesFreed(rt.pool, [
    ...unfinished.map((u) => u.backup.id),
    ...going.map((v) => v.facts.id),
  ]);
  const items: ExpireItem[] = [
    ...unfinished.map((u) => finishItem(u, freed.local.get(u.backup.id) ?? 0)),
    ...going.map((v) => ({
      id: v.facts.id,
      host: v.facts.host,
      kind: v.facts.kind,
      key: v.facts.key,
      action: v.action === 'retire' ? ('retire' as const) : ('expire' as const),
      reason: v.reason,
      localBytes: freed.local.get(v.facts.id) ?? 0,
    })),
  ];
  items.sort((a, b) => a.host.localeCompare(b.host) || a.key.localeCompare(b.key));
  const byHost = new Map<string, RetentionFacts[]>();
  for (const f of facts) byHost.set(f.host, [...(byHost.get(f.host) ?? []), f]);
  const report: ExpireReport = {
    at: now.toISOString(),
    dryRun: true,
    backups: items,
    bytesFreed: [
      { target: 'local', blobs: null, bytes: items.reduce((n, i) => n + i.localBytes, 0) },
      // Every configured target, so a dry run also says which ones free nothing.
      ...rt.targets
        .names()
        .map((t) => freed.targets.find((f) => f.target === t) ?? { target: t, blobs: 0, bytes: 0 }),
    ],
    results: [],
    errors: [],
  };
  return { report, now, byHost };
}

/**
 * The re-check on the locked row: the backup must still go with its facts as they are now (a
 * stage may have been retried, or a change report withdrawn, since the plan was made). Judged
 * among its host's backups, which decide whether it is the host's last good daily.
 */
function refusal(rt: Runtime, fresh: RetentionFacts, hostFacts: RetentionFacts[], now: Date): string | null {
  const facts = hostFacts.map((f) => (f.id === fresh.id ? fresh : f));
  const v = retentionVerdicts(facts, policy(rt), now).find((x) => x.facts.id === fresh.id);
  return v && v.action !== 'keep' ? null : (v?.reason ?? 'no longer kept');
}

function finishItem(u: EndingBackup, localBytes: number): ExpireItem {
  const pending = u.removals.filter((r) => !r.removedAt).map((r) => r.copy);
  const b = u.backup;
  return {
    id: b.id,
    host: b.host,
    kind: b.kind,
    key: b.key,
    action: 'finish',
    reason: `${b.lifecycle} since ${b.lifecycleChangedAt?.toISOString() ?? '?'}; still to remove: ${pending.join(', ') || 'nothing'}`,
    // A local directory already removed frees nothing more.
    localBytes: pending.includes(LOCAL_COPY) ? localBytes : 0,
  };
}

function policy(rt: Runtime): RetentionPolicy {
  return { autoRetireDays: rt.config.lifecycle.autoRetireDays };
}
