/**
 * Every `fleet_backup_*` series, in one list: the code registers exactly these, and the tests
 * check that the alert rules and the Grafana dashboard use no other name.
 */
export interface MetricSpec {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels: readonly string[];
  /** process: every producer, worker and agent; fleet: the producer only, computed at scrape time. */
  scope: 'process' | 'fleet';
}

const spec = <const N extends string>(
  name: N,
  type: MetricSpec['type'],
  scope: MetricSpec['scope'],
  labels: readonly string[],
  help: string,
) => ({ name, type, scope, labels, help });

export const METRICS = {
  // Work done in this process.
  stageDuration: spec(
    'fleet_backup_stage_duration_seconds',
    'histogram',
    'process',
    ['stage', 'outcome'],
    'How long a job ran in this process, by stage and outcome (done, retrying: failed with a retry to come, failed: for good)',
  ),
  stagesRunning: spec(
    'fleet_backup_stages_running',
    'gauge',
    'process',
    ['stage'],
    'Jobs running in this process now, by stage',
  ),
  bytesCopied: spec(
    'fleet_backup_bytes_copied_total',
    'counter',
    'process',
    [],
    'Bytes the snapshot stage copied into the local backup directories',
  ),
  bytesUploaded: spec(
    'fleet_backup_bytes_uploaded_total',
    'counter',
    'process',
    ['target'],
    'Bytes the replicate stage uploaded to a target (blobs the target already held are not counted)',
  ),
  bytesVerified: spec(
    'fleet_backup_bytes_verified_total',
    'counter',
    'process',
    ['target'],
    'Bytes of backup files the verify stage checked on a target',
  ),
  redisUp: spec('fleet_backup_redis_up', 'gauge', 'process', [], '1 when this process reaches Redis'),
  postgresUp: spec(
    'fleet_backup_postgres_up',
    'gauge',
    'process',
    [],
    '1 when this process reaches Postgres',
  ),
  collectorErrors: spec(
    'fleet_backup_collector_errors_total',
    'counter',
    'process',
    ['collector'],
    'Scrapes where a collector (queues, fleet) could not read Redis or Postgres; its series are then missing',
  ),
  // The queues (producer).
  jobs: spec('fleet_backup_jobs', 'gauge', 'fleet', ['queue', 'state'], 'BullMQ jobs by queue and state'),
  queueDepth: spec(
    'fleet_backup_queue_depth',
    'gauge',
    'fleet',
    ['queue'],
    'Jobs ready to run and waiting for a worker (waiting + prioritized + paused; delayed retries excluded)',
  ),
  // The fleet, from Postgres (producer). Kept backups: neither expired nor retired, nor on the way.
  backups: spec(
    'fleet_backup_backups',
    'gauge',
    'fleet',
    ['kind', 'status'],
    'Kept backups by kind and status',
  ),
  backupsNot321: spec(
    'fleet_backup_backups_not_321',
    'gauge',
    'fleet',
    ['kind'],
    'Kept backups whose pipeline ended without meeting 3-2-1',
  ),
  not321OldestAge: spec(
    'fleet_backup_not_321_oldest_age_seconds',
    'gauge',
    'fleet',
    [],
    'Age of the oldest kept backup that does not meet 3-2-1, finished or not (0: none)',
  ),
  unverifiedOldestAge: spec(
    'fleet_backup_unverified_oldest_age_seconds',
    'gauge',
    'fleet',
    [],
    'Age of the oldest kept backup that is not verified, running ones included (0: none)',
  ),
  copies: spec(
    'fleet_backup_copies',
    'gauge',
    'fleet',
    ['target', 'status'],
    'Copies of kept backups by target (local: the host backup root) and status (pending, replicated, verified, corrupt)',
  ),
  stagesFailed: spec(
    'fleet_backup_stages_failed',
    'gauge',
    'fleet',
    ['stage'],
    'Kept backups with a stage failed for good (retry it in Bull Board)',
  ),
  lastDailySuccess: spec(
    'fleet_backup_last_daily_success_timestamp_seconds',
    'gauge',
    'fleet',
    ['host'],
    'Creation time of the newest verified daily of each registered host (absent: none yet)',
  ),
  hostRegistered: spec(
    'fleet_backup_host_registered_timestamp_seconds',
    'gauge',
    'fleet',
    ['host'],
    'When each registered host was first seen: the start of its overdue clock until its first verified daily',
  ),
  targetStorageBytes: spec(
    'fleet_backup_target_storage_bytes',
    'gauge',
    'fleet',
    ['target'],
    'Bytes of blobs each target holds, as recorded in Postgres',
  ),
  localStorageBytes: spec(
    'fleet_backup_local_storage_bytes',
    'gauge',
    'fleet',
    ['host', 'measure'],
    "Bytes of each host's kept local copies: measure logical sums every backup's files, disk counts each hardlinked file version once",
  ),
  targetBlobs: spec('fleet_backup_target_blobs', 'gauge', 'fleet', ['target'], 'Blobs each target holds'),
  expiringSoon: spec(
    'fleet_backup_backups_expiring_7d',
    'gauge',
    'fleet',
    [],
    'Kept backups that expire within 7 days',
  ),
  preChangePending: spec(
    'fleet_backup_pre_change_pending',
    'gauge',
    'fleet',
    [],
    'Kept pre-change backups whose change is not reported verified yet',
  ),
  preChangePendingOldestAge: spec(
    'fleet_backup_pre_change_pending_oldest_age_seconds',
    'gauge',
    'fleet',
    [],
    'Age of the oldest pre-change backup waiting for its change to be verified (0: none)',
  ),
  drillLastOk: spec(
    'fleet_backup_drill_last_ok',
    'gauge',
    'fleet',
    ['host'],
    'Result of the newest finished restore drill of each host: 1 passed, 0 failed',
  ),
  drillLastTimestamp: spec(
    'fleet_backup_drill_last_timestamp_seconds',
    'gauge',
    'fleet',
    ['host'],
    'When the newest finished restore drill of each host ended',
  ),
  recheckCoverage: spec(
    'fleet_backup_recheck_coverage_ratio',
    'gauge',
    'fleet',
    ['copy'],
    "Fraction of each copy's stored bytes read back within the last re-check window (RECHECK_WINDOW_DAYS); copy local: every host's local copies",
  ),
  readBackPerDay: spec(
    'fleet_backup_read_back_bytes_per_day',
    'gauge',
    'fleet',
    ['copy'],
    'Bytes verify and the rolling re-read read back from each target per day, averaged over the last 7 days: the egress verification costs',
  ),
  flagged: spec(
    'fleet_backup_flagged_24h',
    'gauge',
    'fleet',
    ['host', 'flag'],
    'Kept backups made in the last 24 hours that the snapshot flagged, per host: flag mass_change (most files of the previous backup changed or gone: ransomware encrypting a host looks like this) or sharp_drop (far fewer files or bytes)',
  ),
  unencrypted: spec(
    'fleet_backup_offsite_copies_unencrypted',
    'gauge',
    'fleet',
    ['target'],
    'Kept backups whose copy on an offsite target is stored plain, because the target says encryption: none: anyone who can read the bucket can read them',
  ),
  rotFound: spec(
    'fleet_backup_rot_found_24h',
    'gauge',
    'fleet',
    ['copy'],
    'Objects found corrupt or missing on each copy within the last 24 hours, healed since or not (a failing disk or bucket shows here even when healing is quick)',
  ),
} as const satisfies Record<string, MetricSpec>;

/** Every series name the code exports (histograms also export _bucket, _sum and _count). */
export const METRIC_NAMES: readonly string[] = Object.values(METRICS).map((m) => m.name);
