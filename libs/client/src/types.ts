/**
 * The API's shapes, as the server sends them (snake_case, like the HTTP API and the queue
 * schema, so one vocabulary serves all three ways in). Declared here rather than imported, so
 * the client carries no dependency on the server's packages.
 */

export type Retention = 'until_verified' | 'permanent' | `days_${number}`;

/** The body of `POST /v1/pre-change`, and of a `pre-change` job on the `pool` queue. */
export interface PreChangeRequest {
  /** Optional uuid you choose: retrying with it returns the same backup instead of taking another. */
  id?: string;
  host: string;
  /** Absolute, normalised paths on the host. */
  paths: string[];
  /** Becomes part of the key: `YYYYMMDD_HHMM_<slug>`. */
  description: string;
  change_ticket: string;
  /** Default `until_verified`; `permanent` by default for a migration or a backup holding database files. */
  retention?: Retention;
  /** A database migration: kept permanently unless `retention` says otherwise. */
  migration?: boolean;
}

export interface PreChangeAccepted {
  id: string;
  host: string;
  key: string;
  status: BackupStatus;
  /** False when the id you chose already named this backup. */
  created: boolean;
}

/** `incomplete`: a source's required files were missing; never safe, never verified. */
export type BackupStatus = 'running' | 'verified' | 'unverified' | 'incomplete' | 'failed';

/** Figures before and after, and the fall in percent. */
export interface DropFigure {
  before: number;
  after: number;
  percent: number;
}

/** Far fewer files or bytes than the previous backup of the same paths: a flag, not a failure. */
export interface SharpDropView {
  previous: { id: string; key: string };
  threshold: number;
  files: DropFigure;
  bytes: DropFigure;
}

/** Most of the previous backup's files changed or gone (ransomware keeps sizes): a flag, not a failure. */
export interface MassChangeView {
  previous: { id: string; key: string };
  threshold: number;
  /** Files of the previous backup. */
  before: number;
  /** How many of them this backup does not hold with the same content at the same path. */
  changed: number;
  percent: number;
}

export interface CopyView {
  target: string;
  kind: string;
  offsite: boolean;
  status: 'pending' | 'replicated' | 'verified' | 'corrupt';
  verified: string | null;
}

export interface SafetyView {
  local_hashed: boolean;
  offsite_verified: number;
  offsite_required: number;
  /** False when it cannot become safe without an operator. */
  possible: boolean;
  reason: string;
}

export interface ChangeView {
  ticket: string | null;
  status: 'pending_verification' | 'verified' | 'retired';
  retention: string | null;
  verified_by: string | null;
  verified_date: string | null;
}

/** `GET /v1/backups/:id`. */
export interface BackupView {
  id: string;
  host: string;
  kind: 'daily' | 'pre_change' | 'manual';
  key: string;
  status: BackupStatus;
  created: string;
  expires: string | null;
  /** The configuration version it was planned with (its targets); null before versions. */
  config_version: number | null;
  copies: CopyView[];
  stages: { stage: string; target: string | null; status: string; attempts: number; error: string | null }[];
  /** Required globs (absolute) that no stored file matched. */
  missing: string[];
  sharp_drop: SharpDropView | null;
  mass_change: MassChangeView | null;
  /** The local copy is hashed and enough offsite copies are verified: the change may start. */
  safe: boolean;
  safety: SafetyView;
  change: ChangeView | null;
  /** The backup's entry in the seed's backup_metadata.json. */
  metadata: Record<string, unknown>;
}

/**
 * What `waitUntilSafe` polls (`GET /v1/backups/:id/state`): the backup's status, stages, copies
 * and safety, without its seed entry, so a poll costs the same whatever the number of files.
 */
export type BackupState = Pick<
  BackupView,
  'id' | 'host' | 'kind' | 'key' | 'status' | 'copies' | 'stages' | 'missing' | 'safe' | 'safety' | 'change'
>;

export interface ChangeBackupView {
  id: string;
  host: string;
  key: string;
  status: BackupStatus;
  change_status: string | null;
  verified_by: string | null;
  verified_date: string | null;
  /** Whether this report changed it (a repeated report does not). */
  changed: boolean;
}

/** `POST /v1/changes/:ticket/verify`. */
export interface ChangeVerified {
  ticket: string;
  event: 'verified';
  backups: ChangeBackupView[];
}

/** `POST /v1/changes/:ticket/fail`: each backup with the command that rolls its host back. */
export interface ChangeFailed {
  ticket: string;
  event: 'failed';
  backups: (ChangeBackupView & { restore: { command: string; note: string } | null })[];
  restore_commands: string[];
}

/** `POST /v1/backups/:id/retire`: `retiring` while copies remain (`pending`), `retired` once all are gone. */
export interface RetireProgress {
  id: string;
  host: string;
  kind: string;
  key: string;
  lifecycle: string;
  reason: string | null;
  removed: string[];
  pending: { copy: string; error: string | null }[];
}
