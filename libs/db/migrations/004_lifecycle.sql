-- Expiry and retirement: a backup is marked (lifecycle 'expiring' or 'retiring') before any copy
-- is removed, each copy's removal is recorded, and it ends 'expired' or 'retired' once all are
-- gone. The row and its history stay.
ALTER TABLE backups ADD COLUMN lifecycle_reason text;
ALTER TABLE backups ADD COLUMN lifecycle_changed_at timestamptz;
ALTER TABLE backups ADD COLUMN retired_by text;
CREATE INDEX backups_lifecycle_ending ON backups (lifecycle) WHERE lifecycle IN ('expiring', 'retiring');

-- One row per copy to remove: 'local' (the agent deletes BACKUP_ROOT/<key>) or a target name
-- (its manifest is deleted). removed_at stays null until it is gone; error says what holds it up.
CREATE TABLE backup_removals (
  backup_id   uuid NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  copy        text NOT NULL,
  removed_at  timestamptz,
  error       text,
  PRIMARY KEY (backup_id, copy)
);
CREATE INDEX backup_removals_pending ON backup_removals (backup_id) WHERE removed_at IS NULL;

-- Blob garbage collection asks "does any live backup reference this sha256?".
CREATE INDEX backup_files_sha256 ON backup_files (sha256);

-- Blobs found on a target that Postgres knows nothing about (a bucket sweep): when gc first saw
-- each unreferenced, so it waits out the grace period before deleting one it cannot date.
CREATE TABLE gc_sightings (
  target      text NOT NULL,
  sha256      text NOT NULL,
  first_seen  timestamptz NOT NULL,
  PRIMARY KEY (target, sha256)
);
