import type { BackupDetail, CopyRow, StageRow } from '@fleet-backup/db';

/** The JSON shape of one backup, shared by the API and `show --json`. */
export function describeBackup(d: BackupDetail) {
  const { backup } = d;
  return {
    id: backup.id,
    host: backup.host,
    kind: backup.kind,
    key: backup.key,
    status: backup.status,
    created: backup.createdAt.toISOString(),
    expires: backup.expiresAt?.toISOString() ?? null,
    // null while plain; `verified` (a pre_change's change); expiring/retiring, then expired/retired.
    lifecycle: {
      state: backup.lifecycle,
      reason: backup.lifecycleReason,
      since: backup.lifecycleChangedAt?.toISOString() ?? null,
      retiredBy: backup.retiredBy,
    },
    request: backup.request,
    // The configuration version it was planned with: where its targets came from.
    config_version: backup.configVersion,
    compliance: backup.compliance,
    stages: d.stages.map(stageView),
    copies: d.copies.map(copyView),
    files: d.files.map((f) => ({
      path: f.path,
      stored: f.storedPath,
      class: f.cls,
      size: f.size,
      sha256: f.sha256,
      ...(f.cls === 'database' ? { has_wal: f.hasWal ?? false } : {}),
      // A sensitive file: stored encrypted, as the blob stored_sha256; size and sha256 are the plaintext's.
      ...(f.encrypted && {
        encrypted: {
          key: f.encrypted.keyId,
          stored_sha256: f.encrypted.sha256,
          stored_size: f.encrypted.size,
        },
      }),
      hashed: f.hashedAt !== null,
    })),
    skipped: backup.skipped,
    // Completeness: required globs no stored file matched (status `incomplete`), and the
    // sharp-drop and mass-change flags.
    missing: backup.missing,
    sharp_drop: backup.sharpDrop,
    mass_change: backup.massChange,
    metadata: backup.entry,
  };
}

/** A stage as the API and `show --json` name its fields. */
export function stageView(s: StageRow) {
  return {
    stage: s.stage,
    target: s.target || null,
    status: s.status,
    attempts: s.attempts,
    error: s.error,
    started: s.startedAt?.toISOString() ?? null,
    finished: s.finishedAt?.toISOString() ?? null,
  };
}

/** A copy as the API and `show --json` name its fields. */
export function copyView(c: CopyRow) {
  return {
    target: c.target,
    kind: c.kind,
    offsite: c.offsite,
    /** How the target stores its objects, as planned: 'aes-256-gcm', 'none', or null (not recorded). */
    encryption: c.encryption,
    status: c.status,
    verified: c.verifiedAt?.toISOString() ?? null,
    detail: c.detail,
  };
}
