-- Restore drills: a backup restored from one copy into a scratch directory, every hash and every
-- SQLite database checked, then the scratch directory deleted. One row per drill, written when it
-- starts (ok NULL) and completed when it ends, so a drill killed halfway still shows.
CREATE TABLE drill_runs (
  id          uuid PRIMARY KEY,
  host        text NOT NULL,
  -- NULL: the drill failed before a backup was chosen (none verified, or the one asked for is gone).
  backup_id   uuid,
  backup_key  text,
  -- The copy restored from (a target name).
  target      text,
  trigger     text NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
  started_at  timestamptz NOT NULL,
  finished_at timestamptz,
  -- NULL while running.
  ok          boolean,
  reason      text,
  duration_ms integer,
  files       integer,
  bytes       bigint
);
-- `drills --host`, and the newest drill of each host for `report` and the metrics.
CREATE INDEX drill_runs_host_started ON drill_runs (host, started_at DESC);
