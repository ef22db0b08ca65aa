import { LOCAL_COPY } from '@fleet-backup/core';
import { hostQueueNames, POOL_QUEUE } from '@fleet-backup/queue';
import { Gauge, type Registry } from 'prom-client';
import type { Runtime } from '../runtime.ts';
import { cachedFor } from './cached.ts';
import { METRICS, type MetricSpec } from './catalog.ts';
import { type FleetSnapshot, readFleetSnapshot } from './fleet-queries.ts';
import { withTimeout } from './probes.ts';
import { fromSpec } from './process-metrics.ts';
import { type QueueCounts, readQueueCounts } from './queue-counts.ts';
import { type RotSnapshot, readRotSnapshot } from './rot-metrics.ts';

// All gauges of one scrape read one snapshot; a scrape answers even when a read hangs.
const SNAPSHOT_TTL_MS = 5_000;
const READ_TIMEOUT_MS = 5_000;

/**
 * Registers the fleet-wide series on the producer: BullMQ job counts per queue and the state of
 * backups, hosts, targets and drills from Postgres, all read when Prometheus scrapes. Only the
 * producer exports them, so N workers do not multiply them. A read that fails counts in
 * fleet_backup_collector_errors_total and leaves its series out of that scrape.
 */
export function enableFleetMetrics(rt: Runtime): void {
  const metrics = rt.metrics;
  if (metrics.fleetEnabled) return;
  metrics.fleetEnabled = true;
  const guarded = <T>(collector: string, read: () => Promise<T>) =>
    cachedFor(SNAPSHOT_TTL_MS, async (): Promise<T | null> => {
      try {
        return await withTimeout(read(), READ_TIMEOUT_MS, `${collector} metrics`);
      } catch (err) {
        metrics.collectorErrors.inc({ collector });
        rt.log.warn({ err, collector }, 'metrics collector could not read its source');
        return null;
      }
    });
  const fleet = guarded('fleet', () => readFleetSnapshot(rt.pool, rt.clock.now()));
  let knownHosts: string[] = [];
  const queues = guarded('queues', async () => {
    // The host list comes from Postgres; while it is unreachable, the last one known still counts Redis.
    knownHosts = await rt.hosts.list().then(
      (hs) => hs.map((h) => h.id),
      () => knownHosts,
    );
    return readQueueCounts(rt.queues, [POOL_QUEUE, ...knownHosts.flatMap(hostQueueNames)]);
  });
  registerQueueGauges(metrics.registry, queues);
  registerFleetGauges(metrics.registry, fleet);
  registerRotGauges(
    metrics.registry,
    guarded('rot', () => readRotSnapshot(rt)),
  );
}

type Read<T> = () => Promise<T | null>;
type Sample = { labels?: Record<string, string>; value: number };

/** A gauge whose samples are computed from a shared read at every scrape. */
function computed<T>(registry: Registry, spec: MetricSpec, read: Read<T>, samples: (s: T) => Sample[]): void {
  new Gauge({
    ...fromSpec<string>(spec, registry),
    async collect() {
      const snapshot = await read();
      this.reset();
      if (!snapshot) return;
      for (const { labels, value } of samples(snapshot)) {
        if (labels) this.set(labels, value);
        else this.set(value);
      }
    },
  });
}

function registerQueueGauges(registry: Registry, read: Read<QueueCounts[]>): void {
  computed(registry, METRICS.jobs, read, (queues) =>
    queues.flatMap(({ queue, counts }) =>
      Object.entries(counts).map(([state, value]) => ({ labels: { queue, state }, value })),
    ),
  );
  computed(registry, METRICS.queueDepth, read, (queues) =>
    queues.map(({ queue, depth }) => ({ labels: { queue }, value: depth })),
  );
}

function registerFleetGauges(registry: Registry, read: Read<FleetSnapshot>): void {
  const seconds = (d: Date) => d.getTime() / 1000;
  const one = (value: number): Sample[] => [{ value }];
  computed(registry, METRICS.backups, read, (s) =>
    s.backups.map((b) => ({ labels: { kind: b.kind, status: b.status }, value: b.n })),
  );
  computed(registry, METRICS.backupsNot321, read, (s) =>
    s.not321.map((b) => ({ labels: { kind: b.kind }, value: b.n })),
  );
  computed(registry, METRICS.not321OldestAge, read, (s) => one(s.oldestNot321Age));
  computed(registry, METRICS.unverifiedOldestAge, read, (s) => one(s.oldestUnverifiedAge));
  computed(registry, METRICS.copies, read, (s) =>
    s.copies.map((c) => ({ labels: { target: c.target, status: c.status }, value: c.n })),
  );
  computed(registry, METRICS.stagesFailed, read, (s) =>
    s.stagesFailed.map((f) => ({ labels: { stage: f.stage }, value: f.n })),
  );
  computed(registry, METRICS.lastDailySuccess, read, (s) =>
    s.hosts.flatMap((h) =>
      h.lastVerifiedDaily ? [{ labels: { host: h.host }, value: seconds(h.lastVerifiedDaily) }] : [],
    ),
  );
  computed(registry, METRICS.hostRegistered, read, (s) =>
    s.hosts.map((h) => ({ labels: { host: h.host }, value: seconds(h.registered) })),
  );
  computed(registry, METRICS.targetStorageBytes, read, (s) =>
    s.targets.map((t) => ({ labels: { target: t.target }, value: t.bytes })),
  );
  computed(registry, METRICS.localStorageBytes, read, (s) =>
    s.localStorage.flatMap((h) => [
      { labels: { host: h.host, measure: 'logical' }, value: h.localBytes },
      { labels: { host: h.host, measure: 'disk' }, value: h.diskBytes },
    ]),
  );
  computed(registry, METRICS.targetBlobs, read, (s) =>
    s.targets.map((t) => ({ labels: { target: t.target }, value: t.blobs })),
  );
  computed(registry, METRICS.flagged, read, (s) =>
    s.flagged.flatMap((f) => [
      { labels: { host: f.host, flag: 'mass_change' }, value: f.massChange },
      { labels: { host: f.host, flag: 'sharp_drop' }, value: f.sharpDrop },
    ]),
  );
  computed(registry, METRICS.unencrypted, read, (s) =>
    s.unencrypted.map((u) => ({ labels: { target: u.target }, value: u.n })),
  );
  computed(registry, METRICS.expiringSoon, read, (s) => one(s.expiringSoon));
  computed(registry, METRICS.preChangePending, read, (s) => one(s.pendingChanges));
  computed(registry, METRICS.preChangePendingOldestAge, read, (s) => one(s.oldestPendingChangeAge));
  computed(registry, METRICS.drillLastOk, read, (s) =>
    s.drills.map((d) => ({ labels: { host: d.host }, value: d.ok ? 1 : 0 })),
  );
  computed(registry, METRICS.drillLastTimestamp, read, (s) =>
    s.drills.map((d) => ({ labels: { host: d.host }, value: seconds(d.finished) })),
  );
}

/** fleet_backup_recheck_coverage_ratio and fleet_backup_rot_found_24h, per copy. */
function registerRotGauges(registry: Registry, read: Read<RotSnapshot>): void {
  computed(registry, METRICS.recheckCoverage, read, (s) =>
    s.coverage.map((c) => ({
      labels: { copy: c.copy },
      value: c.bytes === 0 ? 1 : c.checkedBytes / c.bytes,
    })),
  );
  computed(registry, METRICS.readBackPerDay, read, (s) =>
    s.coverage
      .filter((c) => c.copy !== LOCAL_COPY)
      .map((c) => ({ labels: { copy: c.copy }, value: c.readPerDay })),
  );
  computed(registry, METRICS.rotFound, read, (s) =>
    s.found.map((f) => ({ labels: { copy: f.copy }, value: f.found })),
  );
}
