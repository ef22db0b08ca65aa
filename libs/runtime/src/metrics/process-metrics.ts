import type { Pool } from '@fleet-backup/db';
import type { StageEvent } from '@fleet-backup/queue';
import type { Redis } from 'ioredis';
import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricConfiguration,
  Registry,
} from 'prom-client';
import { METRICS, type MetricSpec } from './catalog.ts';
import { postgresReachable, redisReachable } from './probes.ts';

// From a tiny hash job to a multi-hour replicate of a large host.
const DURATION_BUCKETS = [0.05, 0.25, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14_400];

/** prom-client options for a catalog entry, registered in one registry. */
export function fromSpec<L extends string>(spec: MetricSpec, registry: Registry): MetricConfiguration<L> {
  return { name: spec.name, help: spec.help, labelNames: spec.labels as L[], registers: [registry] };
}

/**
 * The metrics one process owns: its registry (Node's standard process_/nodejs_ series plus
 * ours), what its jobs did, and whether it reaches Redis and Postgres. Fleet-wide series are
 * added to the same registry by the producer (enableFleetMetrics).
 */
export class ProcessMetrics {
  readonly registry = new Registry();
  readonly stageDuration: Histogram<'stage' | 'outcome'>;
  readonly stagesRunning: Gauge<'stage'>;
  readonly bytesCopied: Counter;
  readonly bytesUploaded: Counter<'target'>;
  readonly bytesVerified: Counter<'target'>;
  readonly collectorErrors: Counter<'collector'>;
  /** Set once fleet series are registered, so a second server on the same runtime adds none. */
  fleetEnabled = false;

  constructor(deps: { redis: Redis; pool: Pool }) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    this.stageDuration = new Histogram({ ...fromSpec(METRICS.stageDuration, r), buckets: DURATION_BUCKETS });
    this.stagesRunning = new Gauge(fromSpec(METRICS.stagesRunning, r));
    this.bytesCopied = new Counter(fromSpec(METRICS.bytesCopied, r));
    this.bytesUploaded = new Counter(fromSpec(METRICS.bytesUploaded, r));
    this.bytesVerified = new Counter(fromSpec(METRICS.bytesVerified, r));
    this.collectorErrors = new Counter(fromSpec(METRICS.collectorErrors, r));
    new Gauge({
      ...fromSpec(METRICS.redisUp, r),
      async collect() {
        this.set((await redisReachable(deps.redis)) ? 1 : 0);
      },
    });
    new Gauge({
      ...fromSpec(METRICS.postgresUp, r),
      async collect() {
        this.set((await postgresReachable(deps.pool)) ? 1 : 0);
      },
    });
    this.observeStage = this.observeStage.bind(this);
  }

  /** The StageWorker hook: running jobs, and each attempt's duration by outcome. */
  observeStage(e: StageEvent): void {
    if (e.event === 'started') {
      this.stagesRunning.inc({ stage: e.stage });
      return;
    }
    this.stagesRunning.dec({ stage: e.stage });
    // A job released at shutdown did not finish either way; it runs again elsewhere.
    if (e.event !== 'released')
      this.stageDuration.observe({ stage: e.stage, outcome: e.event }, e.durationMs / 1000);
  }
}
