import { type MassChange, retentionVerdicts, type SharpDrop } from '@fleet-backup/core';
import {
  completenessQueries,
  DrillStore,
  type ReportBackup,
  reportQueries,
  sensitiveQueries,
} from '@fleet-backup/db';
import { listAll } from '@fleet-backup/storage';
import { type DrillOverdueHost, hostsWithoutRecentDrill } from '../drills/overdue.ts';
import { wantsDaily } from '../host-schedulers.ts';
import { describeHosts } from '../hosts-view.ts';
import {
  buildRecheckCoverage,
  buildRotSummary,
  type RecheckCoverage,
  type RotSummary,
} from '../recheck/coverage.ts';
import type { Runtime } from '../runtime.ts';
import { lifecycleStore } from './removal.ts';

const DAY_MS = 86_400_000;

export interface ReportItem {
  id: string;
  host: string;
  kind: string;
  key: string;
  status: string;
  created: string;
}

/** The seed's Automation and Monitoring questions, answered from Postgres and the targets. */
export interface Report {
  at: string;
  expiringSoon: (ReportItem & { action: string; due: string; reason: string })[];
  readyForCleanup: (ReportItem & { ticket: string | null; reason: string })[];
  storage: {
    /** localBytes: the files of every kept backup (logical); diskBytes: the same counted once on disk. */
    hosts: { host: string; backups: number; localBytes: number; diskBytes: number; uniqueBytes: number }[];
    /** bytes: what Postgres records the target holds; measured: listed on the target itself (fs only). */
    targets: {
      target: string;
      kind: string;
      blobs: number;
      bytes: number;
      measuredBytes: number | null;
      /**
       * What agents write to it with: 'create-only' (an agent credential of their own), or 'pool
       * credential' (an offsite target whose agents could read and delete everything: a warning).
       */
      agents: 'create-only' | 'pool credential' | 'filesystem';
      /** Objects sealed client-side, or not (`none`: on an offsite target, said explicitly). */
      encryption: 'aes-256-gcm' | 'none';
    }[];
    total: { localBytes: number; diskBytes: number; targetBytes: number; bytes: number };
  };
  needsVerification: (ReportItem & { verified: string | null; why: string })[];
  waitingForChange: (ReportItem & { ticket: string | null; ageDays: number })[];
  overdueHosts: { host: string; lastVerifiedDaily: string | null; reason: string | null }[];
  /** Hosts backed up but with no passing restore drill within `drillMaxAgeDays` (or never drilled). */
  noRecentDrill: { days: number; hosts: DrillOverdueHost[] };
  not321: (ReportItem & { compliance: string })[];
  /** Kept backups whose snapshot found required files missing (`incomplete` once the pipeline ends), newest first. */
  incomplete: (ReportItem & { missing: string[] })[];
  /** Kept backups with far fewer files or bytes than the previous backup of the same paths, newest first. */
  sharpDrops: (ReportItem & { drop: SharpDrop })[];
  /** Kept backups in which most of the previous backup's files changed or went, newest first. */
  massChanges: (ReportItem & { change: MassChange })[];
  /**
   * Sensitive items kept backups did not copy because no encryption key was configured, newest
   * first (at most 100 rows; `total` counts them all).
   */
  sensitiveSkipped: { total: number; items: (ReportItem & { path: string })[] };
  /** How much of each copy's stored bytes was read back within the last re-check window. */
  recheck: RecheckCoverage;
  /** Rot found within the last re-check window, healed or not. */
  rot: RotSummary;
  /** Marked to expire or retire and not finished: what each still waits for. */
  ending: {
    id: string;
    host: string;
    key: string;
    lifecycle: string;
    since: string | null;
    pending: string[];
  }[];
}

/** Builds the report as of the runtime's clock. */
export async function buildReport(rt: Runtime): Promise<Report> {
  const now = rt.clock.now();
  const cfg = rt.config.lifecycle;
  const store = lifecycleStore(rt);
  const facts = await store.retentionFacts();
  const policy = { autoRetireDays: cfg.autoRetireDays };
  const soon = retentionVerdicts(facts, policy, new Date(now.getTime() + cfg.expiringSoonDays * DAY_MS));
  const current = retentionVerdicts(facts, policy, now);
  const staleBefore = new Date(now.getTime() - cfg.reverifyAfterDays * DAY_MS);
  return {
    at: now.toISOString(),
    expiringSoon: soon
      .filter((v) => v.action !== 'keep' && v.dueAt)
      .map((v) => ({
        ...item(v.facts),
        action: v.action,
        due: v.dueAt?.toISOString() ?? '',
        reason: v.reason,
      }))
      .sort((a, b) => a.due.localeCompare(b.due) || a.host.localeCompare(b.host)),
    readyForCleanup: current
      .filter((v) => v.readyForCleanup)
      .map((v) => ({ ...item(v.facts), ticket: v.facts.ticket, reason: v.reason })),
    storage: await storage(rt),
    needsVerification: (await reportQueries.needingVerification(rt.pool, staleBefore)).map((b) => ({
      ...item(b),
      verified: b.verifiedAt?.toISOString() ?? null,
      why:
        b.status !== 'verified'
          ? `status ${b.status}`
          : `a copy not read back in full since ${staleBefore.toISOString()} (older than ${cfg.reverifyAfterDays} days)`,
    })),
    waitingForChange: (await reportQueries.waitingForChange(rt.pool)).map((b) => ({
      ...item(b),
      ticket: b.ticket,
      ageDays: Math.floor((now.getTime() - b.created.getTime()) / DAY_MS),
    })),
    overdueHosts: (await describeHosts(rt))
      .filter((h) => h.overdue)
      .map((h) => ({ host: h.host, lastVerifiedDaily: h.lastVerifiedDaily, reason: h.reason })),
    noRecentDrill: await noRecentDrill(rt, now),
    not321: (await reportQueries.not321(rt.pool)).map((b) => ({ ...item(b), compliance: b.compliance })),
    incomplete: (await completenessQueries.incomplete(rt.pool)).map((b) => ({
      ...item(b),
      missing: b.missing,
    })),
    sharpDrops: (await completenessQueries.sharpDrops(rt.pool)).flatMap((b) =>
      b.sharpDrop ? [{ ...item(b), drop: b.sharpDrop }] : [],
    ),
    massChanges: (await completenessQueries.massChanges(rt.pool)).flatMap((b) =>
      b.massChange ? [{ ...item(b), change: b.massChange }] : [],
    ),
    sensitiveSkipped: await sensitiveSkipped(rt),
    recheck: await buildRecheckCoverage(rt),
    rot: await buildRotSummary(rt),
    ending: (await store.ending()).map(({ backup, removals }) => ({
      id: backup.id,
      host: backup.host,
      key: backup.key,
      lifecycle: backup.lifecycle ?? '',
      since: backup.lifecycleChangedAt?.toISOString() ?? null,
      pending: removals.filter((r) => !r.removedAt).map((r) => (r.error ? `${r.copy} (${r.error})` : r.copy)),
    })),
  };
}

function item(b: Pick<ReportBackup, 'id' | 'host' | 'kind' | 'key' | 'status' | 'created'>): ReportItem {
  return {
    id: b.id,
    host: b.host,
    kind: b.kind,
    key: b.key,
    status: b.status,
    created: b.created.toISOString(),
  };
}

async function sensitiveSkipped(rt: Runtime): Promise<Report['sensitiveSkipped']> {
  const { rows, total } = await sensitiveQueries.skippedWithoutKey(rt.pool, 100);
  return { total, items: rows.map((r) => ({ ...item(r), path: r.path })) };
}

/** The hosts that get drills (those backed up) whose backups were not proven to restore lately. */
async function noRecentDrill(rt: Runtime, now: Date): Promise<Report['noRecentDrill']> {
  const days = rt.config.drillMaxAgeDays;
  const hosts = (await rt.hosts.list()).filter(wantsDaily).map((h) => h.id);
  const summaries = await new DrillStore(rt.pool).summaries();
  return { days, hosts: hostsWithoutRecentDrill(hosts, summaries, now, days) };
}

/** Storage per host and target from the metadata, plus a measurement where listing is cheap (fs). */
async function storage(rt: Runtime): Promise<Report['storage']> {
  const hosts = await reportQueries.hostStorage(rt.pool);
  const recorded = new Map((await reportQueries.targetStorage(rt.pool)).map((t) => [t.target, t]));
  const targets: Report['storage']['targets'] = [];
  for (const name of rt.targets.names()) {
    const target = rt.targets.get(name);
    let measuredBytes: number | null = null;
    if (target.kind === 'fs') {
      measuredBytes = 0;
      for await (const obj of listAll(target, '')) measuredBytes += obj.size;
    }
    const r = recorded.get(name);
    targets.push({
      target: name,
      kind: target.kind,
      blobs: r?.blobs ?? 0,
      bytes: r?.bytes ?? 0,
      measuredBytes,
      agents:
        target.kind === 'fs'
          ? 'filesystem'
          : rt.targets.agentsWriteOnly(name)
            ? 'create-only'
            : 'pool credential',
      encryption: rt.targets.sealed(name) ? 'aes-256-gcm' : 'none',
    });
  }
  const localBytes = hosts.reduce((n, h) => n + h.localBytes, 0);
  const diskBytes = hosts.reduce((n, h) => n + h.diskBytes, 0);
  const targetBytes = targets.reduce((n, t) => n + t.bytes, 0);
  return { hosts, targets, total: { localBytes, diskBytes, targetBytes, bytes: diskBytes + targetBytes } };
}
