-- `fleet-backup forget`: a backup that never verified (or any, forced) is removed for good: its
-- local copy and manifests first (through backup_removals, as expiry does), then its catalog rows.
-- This row is the audit of it (who, when, why, and what the backup was), and it outlives the
-- backup's own rows: no foreign key, on purpose.
CREATE TABLE backup_forgets (
  backup_id     uuid PRIMARY KEY,
  host          text NOT NULL,
  kind          text NOT NULL,
  key           text NOT NULL,
  -- The backup's status when the forget was asked for (failed, unverified, incomplete, running…).
  status        text NOT NULL,
  forced        boolean NOT NULL,
  forgotten_by  text NOT NULL,
  reason        text NOT NULL,
  requested_at  timestamptz NOT NULL,
  -- When its catalog rows were deleted; NULL while a copy is still being removed.
  forgotten_at  timestamptz,
  -- Its stages (with their errors), copies and file count at the time, for the record.
  detail        jsonb NOT NULL
);
CREATE INDEX backup_forgets_unfinished ON backup_forgets (requested_at) WHERE forgotten_at IS NULL;
