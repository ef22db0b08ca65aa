-- The installation's configuration (hosts, targets, retention, lifecycle, drills, thresholds), one
-- row per applied version: every role and CLI reads the newest, so no two processes plan from
-- different files. Secrets are never here: the document names where each role finds them.
CREATE TABLE config_versions (
  version     integer PRIMARY KEY,
  doc         jsonb NOT NULL,
  applied_by  text NOT NULL,
  applied_at  timestamptz NOT NULL,
  -- How it came: `apply` (config apply), `file` (a producer's FLEET_BACKUP_CONFIG), `embedded` (start's defaults).
  origin      text NOT NULL
);

-- The version a backup was planned with (its targets); null for backups planned before versions.
ALTER TABLE backups ADD COLUMN config_version integer;
