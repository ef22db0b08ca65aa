-- The spine: hosts, backups with their seed-format JSONB mirror, per-stage and per-copy state,
-- files, and the blobs each target is known to hold.
CREATE TABLE hosts (
  id          text PRIMARY KEY,
  first_seen  timestamptz NOT NULL,
  last_seen   timestamptz
);

CREATE TABLE backups (
  id          uuid PRIMARY KEY,
  host        text NOT NULL REFERENCES hosts(id),
  kind        text NOT NULL CHECK (kind IN ('daily', 'pre_change', 'manual')),
  key         text NOT NULL,
  status      text NOT NULL CHECK (status IN ('running', 'verified', 'unverified', 'failed')),
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz,
  request     jsonb NOT NULL,
  targets     text[] NOT NULL,
  -- Items a snapshot passed over, with the reason (symlink outside its root, vanished, not a regular file).
  skipped     jsonb NOT NULL DEFAULT '[]'::jsonb,
  -- The seed lifecycle where it is not derived from verification: expired, retired, change verified.
  lifecycle   text,
  change_verified_by   text,
  change_verified_at   timestamptz,
  -- The backup's entry in backup_metadata.json, rewritten in the same transaction as any change above.
  entry       jsonb NOT NULL,
  updated_at  timestamptz NOT NULL,
  UNIQUE (host, key)
);
CREATE INDEX backups_host_created ON backups (host, created_at DESC);
CREATE INDEX backups_running ON backups (status) WHERE status = 'running';

CREATE TABLE backup_stages (
  backup_id   uuid NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  stage       text NOT NULL CHECK (stage IN ('snapshot', 'hash', 'replicate', 'verify', 'expire')),
  target      text NOT NULL DEFAULT '',
  status      text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
  attempts    integer NOT NULL DEFAULT 0,
  started_at  timestamptz,
  finished_at timestamptz,
  error       text,
  PRIMARY KEY (backup_id, stage, target)
);

CREATE TABLE backup_files (
  backup_id   uuid NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  path        text NOT NULL,
  stored_path text NOT NULL,
  class       text NOT NULL CHECK (class IN ('database', 'config', 'general')),
  size        bigint NOT NULL,
  sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  has_wal     boolean,
  hashed_at   timestamptz,
  PRIMARY KEY (backup_id, path),
  UNIQUE (backup_id, stored_path)
);

CREATE TABLE backup_copies (
  backup_id   uuid NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  target      text NOT NULL,
  kind        text NOT NULL,
  offsite     boolean NOT NULL,
  status      text NOT NULL CHECK (status IN ('pending', 'replicated', 'verified', 'corrupt')),
  detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
  verified_at timestamptz,
  PRIMARY KEY (backup_id, target)
);

-- What each target is known to hold, so unchanged data is not uploaded twice (a head request confirms).
CREATE TABLE target_blobs (
  target      text NOT NULL,
  sha256      text NOT NULL,
  size        bigint NOT NULL,
  stored_at   timestamptz NOT NULL,
  PRIMARY KEY (target, sha256)
);
