-- 3-2-1 compliance, recomputed with the status on every change; and the record of every restore.
ALTER TABLE backups ADD COLUMN compliance jsonb NOT NULL DEFAULT '{}'::jsonb;

CREATE TABLE restores (
  id            uuid PRIMARY KEY,
  backup_id     uuid REFERENCES backups(id) ON DELETE SET NULL,
  host          text NOT NULL,
  backup_key    text NOT NULL,
  requested_by  text NOT NULL,
  requested_copy text NOT NULL,
  started_at    timestamptz NOT NULL,
  finished_at   timestamptz NOT NULL,
  outcome       text NOT NULL CHECK (outcome IN ('ok', 'failed')),
  files         integer NOT NULL,
  bytes         bigint NOT NULL,
  -- Per file: the copy that served it and its hash check; fallbacks; the error if it failed.
  detail        jsonb NOT NULL
);
CREATE INDEX restores_started ON restores (started_at DESC);
