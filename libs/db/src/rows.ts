import type {
  BackupKind,
  BackupRequest,
  BackupStatus,
  Compliance,
  CopyStatus,
  FileAttributes,
  FileClass,
  MassChange,
  MetadataEntry,
  SharpDrop,
  StageName,
  StageStatus,
  TreeNode,
} from '@fleet-backup/core';

export interface BackupRow {
  id: string;
  host: string;
  kind: BackupKind;
  key: string;
  status: BackupStatus;
  createdAt: Date;
  expiresAt: Date | null;
  request: BackupRequest;
  targets: string[];
  /** The configuration version it was planned with (its targets); null before versions existed. */
  configVersion: number | null;
  skipped: SkippedItem[];
  /** Required globs its snapshot found no file for: the backup is `incomplete`. */
  missing: string[];
  /** Flagged: far fewer files or bytes than the previous backup of the same paths. */
  sharpDrop: SharpDrop | null;
  /** Flagged: most of the previous backup's files changed or gone (ransomware keeps sizes). */
  massChange: MassChange | null;
  lifecycle: string | null;
  /** Why it is expiring, retiring, expired or retired; when that began or ended; who retired it by hand. */
  lifecycleReason: string | null;
  lifecycleChangedAt: Date | null;
  retiredBy: string | null;
  changeVerifiedBy: string | null;
  changeVerifiedAt: Date | null;
  /** The seed entry; `files` is filled only by BackupStore.detail() (the row stores none). */
  entry: MetadataEntry;
  compliance: Compliance;
  updatedAt: Date;
}

export interface SkippedItem {
  path: string;
  reason: string;
}

export interface StageRow {
  stage: StageName;
  target: string;
  status: StageStatus;
  attempts: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  error: string | null;
}

export interface FileRow {
  path: string;
  storedPath: string;
  cls: FileClass;
  size: number;
  sha256: string;
  hasWal: boolean | null;
  hashedAt: Date | null;
  /** Set when the stored bytes are the file encrypted (a sensitive file); null when stored as is. */
  encrypted?: EncryptedForm | null;
  /** Mode, owner, mtime and xattrs as captured; null for backups taken before they were recorded. */
  attrs?: FileAttributes | null;
  /** The raw path when it is not valid UTF-8 (`path` then shows `\xHH` escapes). */
  pathBytes?: Buffer | null;
}

/** A directory or symlink of a backup (libs/core TreeNode), as the catalog holds it. */
export type NodeRow = TreeNode;

/** The stored bytes of an encrypted file: the blob's address and size, and the key that sealed it. */
export interface EncryptedForm {
  sha256: string;
  size: number;
  keyId: string;
}

/** The bytes stored for a file (in BACKUP_ROOT and as a target's blob): the ciphertext when encrypted. */
export function storedBlob(f: Pick<FileRow, 'sha256' | 'size' | 'encrypted'>): {
  sha256: string;
  size: number;
} {
  return f.encrypted
    ? { sha256: f.encrypted.sha256, size: f.encrypted.size }
    : { sha256: f.sha256, size: f.size };
}

export interface CopyRow {
  target: string;
  kind: string;
  offsite: boolean;
  /** 'aes-256-gcm' (a sealed target) or 'none', as planned; null: planned before it was recorded. */
  encryption: string | null;
  status: CopyStatus;
  detail: Record<string, unknown>;
  verifiedAt: Date | null;
}

export interface BackupDetail {
  backup: BackupRow;
  stages: StageRow[];
  files: FileRow[];
  /** Directories and symlinks, by path. */
  nodes: NodeRow[];
  copies: CopyRow[];
}

type Raw = Record<string, unknown>;

/** The columns that name a backup and say where it stands, as every backup row read maps them. */
export function toBackupHead(r: Raw): Pick<BackupRow, 'id' | 'host' | 'kind' | 'key' | 'status'> {
  return {
    id: r.id as string,
    host: r.host as string,
    kind: r.kind as BackupKind,
    key: r.key as string,
    status: r.status as BackupStatus,
  };
}

export function toBackup(r: Raw): BackupRow {
  return {
    ...toBackupHead(r),
    createdAt: r.created_at as Date,
    expiresAt: (r.expires_at as Date | null) ?? null,
    request: r.request as BackupRequest,
    targets: r.targets as string[],
    configVersion: (r.config_version as number | null | undefined) ?? null,
    skipped: (r.skipped as SkippedItem[]) ?? [],
    missing: (r.missing as string[] | undefined) ?? [],
    sharpDrop: (r.sharp_drop as SharpDrop | null | undefined) ?? null,
    massChange: (r.mass_change as MassChange | null | undefined) ?? null,
    lifecycle: (r.lifecycle as string | null) ?? null,
    lifecycleReason: (r.lifecycle_reason as string | null | undefined) ?? null,
    lifecycleChangedAt: (r.lifecycle_changed_at as Date | null | undefined) ?? null,
    retiredBy: (r.retired_by as string | null | undefined) ?? null,
    changeVerifiedBy: (r.change_verified_by as string | null) ?? null,
    changeVerifiedAt: (r.change_verified_at as Date | null) ?? null,
    // Stored without its files (the catalog holds them): detail() and the export fill them in.
    entry: { files: {}, ...(r.entry as object) } as MetadataEntry,
    compliance: r.compliance as Compliance,
    updatedAt: r.updated_at as Date,
  };
}

export function toStage(r: Raw): StageRow {
  return {
    stage: r.stage as StageName,
    target: r.target as string,
    status: r.status as StageStatus,
    attempts: r.attempts as number,
    startedAt: (r.started_at as Date | null) ?? null,
    finishedAt: (r.finished_at as Date | null) ?? null,
    error: (r.error as string | null) ?? null,
  };
}

/** A stored file: where it is and what it must hash to (for an encrypted file, its ciphertext's). */
export type StoredFile = Pick<FileRow, 'path' | 'storedPath' | 'size' | 'sha256' | 'encrypted'>;

export function toStoredFile(r: Raw): StoredFile {
  return {
    path: r.path as string,
    storedPath: r.stored_path as string,
    size: r.size as number,
    sha256: r.sha256 as string,
    encrypted: r.key_id
      ? { sha256: r.stored_sha256 as string, size: Number(r.stored_size), keyId: r.key_id as string }
      : null,
  };
}

export function toFile(r: Raw): FileRow {
  return {
    ...toStoredFile(r),
    cls: r.class as FileClass,
    hasWal: (r.has_wal as boolean | null) ?? null,
    hashedAt: (r.hashed_at as Date | null) ?? null,
    attrs: r.mode === null || r.mode === undefined ? null : toAttrs(r),
    pathBytes: (r.path_bytes as Buffer | null | undefined) ?? null,
  };
}

export function toNode(r: Raw): NodeRow {
  return {
    path: r.path as string,
    type: r.type as NodeRow['type'],
    target: (r.target as string | null) ?? null,
    pathBytes: (r.path_bytes as Buffer | null) ?? null,
    targetBytes: (r.target_bytes as Buffer | null) ?? null,
    attrs: toAttrs(r),
  };
}

/** The attribute columns shared by backup_files and backup_nodes. */
function toAttrs(r: Raw): FileAttributes {
  const xattrs = r.xattrs as Record<string, string> | null | undefined;
  return {
    mode: r.mode as number,
    uid: Number(r.uid),
    gid: Number(r.gid),
    owner: (r.owner as string | null) ?? null,
    group: (r.grp as string | null) ?? null,
    mtimeNs: String(r.mtime_ns),
    ...(xattrs && Object.keys(xattrs).length ? { xattrs } : {}),
  };
}

export function toCopy(r: Raw): CopyRow {
  return {
    target: r.target as string,
    kind: r.kind as string,
    offsite: r.offsite as boolean,
    encryption: (r.encryption as string | null) ?? null,
    status: r.status as CopyStatus,
    detail: (r.detail as Record<string, unknown>) ?? {},
    verifiedAt: (r.verified_at as Date | null) ?? null,
  };
}
